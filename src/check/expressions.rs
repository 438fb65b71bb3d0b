//! The scans of what templates' expressions read: `profile` fields no
//! sample state has (a typo such as `profile.frist_name` renders an empty
//! string and says nothing), and unsigned `query` parameters that reach a
//! link's host, a remote image's URL or a public template's text, where
//! whoever edits a URL decides what happens.
//!
//! Filters, tests and functions the language lacks need no scan here:
//! loading refuses them ([`crate::expr`]), in `check`, a reload and the
//! admin API alike.

use std::collections::BTreeSet;
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

use super::samples::SampleState;
use crate::expr::{FieldRead, SourceForm, TextId, fields_read};
use crate::open::OWN_PROFILE_FIELDS;
use crate::template::{AccessMode, Template, TimerDeadline, VariantLayer};

/// A `profile` field an expression reads that no sample state has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownProfileField {
    pub file: PathBuf,
    pub variant: Option<String>,
    /// Where the expression is: `variants[0].layers[1].text`.
    pub field: String,
    /// The profile field read: `frist_name`.
    pub name: String,
    /// The sample states' field closest to it, when one is near.
    pub closest: Option<String>,
}

impl fmt::Display for UnknownProfileField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_site(f, &self.file, self.variant.as_deref(), &self.field)?;
        write!(f, "profile.{} is a field no sample state has", self.name)?;
        if let Some(closest) = &self.closest {
            write!(f, " (did you mean profile.{closest}?)")?;
        }
        write!(
            f,
            "; it is undefined, and prints empty, for every recipient without it"
        )
    }
}

/// Where an unsigned parameter goes, and so what editing it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// The scheme and host of a link.
    LinkHost,
    /// The URL of an image fetched from state.
    RemoteImage,
    /// What a `public` template draws.
    PublicText,
}

/// A parameter that anyone may change in a URL, used where a changed value
/// does harm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsignedParam {
    pub file: PathBuf,
    pub variant: Option<String>,
    pub field: String,
    pub param: String,
    pub reach: Reach,
}

impl fmt::Display for UnsignedParam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_site(f, &self.file, self.variant.as_deref(), &self.field)?;
        let (place, harm) = match self.reach {
            Reach::LinkHost => (
                "the link's host",
                "anyone who edits the URL chooses the site a click lands on (an open redirect)",
            ),
            Reach::RemoteImage => (
                "a remote image's URL",
                "anyone who edits the URL chooses what the server fetches (an SSRF-like fetch, within the allowed origins)",
            ),
            Reach::PublicText => (
                "a text of a public template",
                "every new value is a new render, so anyone can make the server render and cache images on demand",
            ),
        };
        write!(
            f,
            "the unsigned parameter query.{} reaches {place}: {harm}; sign it: make the template \"access\": \"signed_url\" and sign its URLs (opentime sign --url)",
            self.param
        )
    }
}

/// The `profile` fields `templates` read that no sample state has, once per
/// expression and field. Nothing when no sample state has a profile, since
/// then every field would be one; the fields the server itself keeps
/// (`opens`, `last_open_at`, ...) are always known.
pub fn find_unknown_profile_fields(
    templates: &[Template],
    states: &[SampleState],
) -> Vec<UnknownProfileField> {
    let sampled: BTreeSet<&str> = states
        .iter()
        .filter_map(|state| state.profile.as_ref())
        .flat_map(|profile| profile.fields.keys().map(String::as_str))
        .collect();
    if sampled.is_empty() {
        return Vec::new();
    }
    let mut warnings = Vec::new();
    for template in templates {
        for site in expression_sites(template) {
            let mut seen = BTreeSet::new();
            for read in site.reads() {
                let name = read.field;
                if read.root != "profile"
                    || sampled.contains(name.as_str())
                    || OWN_PROFILE_FIELDS.contains(&name.as_str())
                    || !seen.insert(name.clone())
                {
                    continue;
                }
                warnings.push(UnknownProfileField {
                    file: template.path.clone(),
                    variant: site.variant.map(str::to_string),
                    field: site.field.clone(),
                    closest: closest_name(&name, &sampled),
                    name,
                });
            }
        }
    }
    warnings
}

/// Every `root.field` that `template`'s conditions and texts read
/// (`profile.first_name`, `query.plan`, ...), each once, sorted: what the
/// studio lists with the sample states' values.
pub fn fields_read_by(template: &Template) -> Vec<(String, String)> {
    let reads: BTreeSet<(String, String)> = expression_sites(template)
        .iter()
        .flat_map(Site::reads)
        .map(|read| (read.root, read.field))
        .collect();
    reads.into_iter().collect()
}

/// The declared parameters of `token` and `public` templates (a
/// `signed_url` template's are all signed) that reach a link's host, a
/// remote image's URL, or a `public` template's text or code.
pub fn find_unsigned_params(templates: &[Template]) -> Vec<UnsignedParam> {
    let mut warnings = Vec::new();
    for template in templates {
        if template.access == AccessMode::SignedUrl {
            continue;
        }
        for site in expression_sites(template) {
            let reaches = |read: &FieldRead| match site.place {
                Place::Link => {
                    let host = host_part(site.source);
                    (read.range.start < host.end && host.start < read.range.end)
                        .then_some(Reach::LinkHost)
                }
                Place::RemoteImage => Some(Reach::RemoteImage),
                Place::Drawn if template.access == AccessMode::Public => Some(Reach::PublicText),
                _ => None,
            };
            let mut seen = BTreeSet::new();
            for read in site.reads() {
                if read.root != "query" || !template.params.contains_key(&read.field) {
                    continue;
                }
                let Some(reach) = reaches(&read) else {
                    continue;
                };
                if seen.insert(read.field.clone()) {
                    warnings.push(UnsignedParam {
                        file: template.path.clone(),
                        variant: site.variant.map(str::to_string),
                        field: site.field.clone(),
                        param: read.field,
                        reach,
                    });
                }
            }
        }
    }
    warnings
}

/// What an expression's value becomes, as far as the scans care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Link,
    RemoteImage,
    /// Pixels: a text layer, a code's content, a countdown label.
    Drawn,
    Other,
}

/// One expression of a template and where it is written.
struct Site<'t> {
    variant: Option<&'t str>,
    field: String,
    source: &'t str,
    form: SourceForm,
    place: Place,
}

impl Site<'_> {
    fn reads(&self) -> Vec<FieldRead> {
        fields_read(self.source, self.form)
    }
}

/// Every condition and text of `template`, named by its field in the file.
fn expression_sites(template: &Template) -> Vec<Site<'_>> {
    let mut sites = Vec::new();
    if let Some(TimerDeadline::Until(id)) = template.timer.as_ref().map(|timer| timer.deadline) {
        push_text(
            &mut sites,
            template,
            None,
            "timer.until".into(),
            id,
            Place::Other,
        );
    }
    if let Some(subject) = template.subject_line {
        push_text(
            &mut sites,
            template,
            None,
            "subject_line".into(),
            subject,
            Place::Other,
        );
    }
    if let Some(poll) = &template.poll {
        push_text(
            &mut sites,
            template,
            None,
            "poll.thanks".into(),
            poll.thanks,
            Place::Other,
        );
    }
    for (index, variant) in template.variants.iter().enumerate() {
        let id = Some(variant.id.as_str());
        if let Some(condition) = &variant.condition {
            sites.push(Site {
                variant: id,
                field: format!("variants[{index}].when"),
                source: condition.source(),
                form: SourceForm::Expression,
                place: Place::Other,
            });
        }
        if let Some(link) = variant.link {
            let field = format!("variants[{index}].link");
            push_text(&mut sites, template, id, field, link, Place::Link);
        }
        if let Some(subject) = variant.subject_line {
            let field = format!("variants[{index}].subject_line");
            push_text(&mut sites, template, id, field, subject, Place::Other);
        }
        for (layer_index, layer) in variant.layers.iter().enumerate() {
            let at = |name: &str| format!("variants[{index}].layers[{layer_index}].{name}");
            match layer {
                VariantLayer::Text { text, .. } => {
                    push_text(&mut sites, template, id, at("text"), *text, Place::Drawn)
                }
                VariantLayer::Code { content, .. } => push_text(
                    &mut sites,
                    template,
                    id,
                    at("content"),
                    *content,
                    Place::Drawn,
                ),
                VariantLayer::RemoteImage { url, .. } => push_text(
                    &mut sites,
                    template,
                    id,
                    at("url"),
                    *url,
                    Place::RemoteImage,
                ),
                VariantLayer::Countdown {
                    countdown,
                    labels,
                    locale,
                } => {
                    for (unit, forms) in countdown.units.iter().zip(labels) {
                        let unit = format!("{unit:?}").to_lowercase();
                        for (category, label) in forms {
                            let field = if forms.len() == 1 {
                                at(&format!("labels.{unit}"))
                            } else {
                                at(&format!("labels.{unit}.{}", category.name()))
                            };
                            push_text(&mut sites, template, id, field, *label, Place::Drawn);
                        }
                    }
                    if let Some(locale) = locale {
                        push_text(
                            &mut sites,
                            template,
                            id,
                            at("locale"),
                            *locale,
                            Place::Drawn,
                        );
                    }
                }
                VariantLayer::Repeat(repeat) => {
                    sites.push(Site {
                        variant: id,
                        field: at("items"),
                        source: repeat.items.source(),
                        form: SourceForm::Expression,
                        place: Place::Other,
                    });
                    for (child_index, child) in repeat.layers.iter().enumerate() {
                        let at = |name: &str| at(&format!("layers[{child_index}].{name}"));
                        let (field, text, place) = match child {
                            VariantLayer::Text { text, .. } => ("text", *text, Place::Drawn),
                            VariantLayer::Code { content, .. } => {
                                ("content", *content, Place::Drawn)
                            }
                            VariantLayer::RemoteImage { url, .. } => {
                                ("url", *url, Place::RemoteImage)
                            }
                            _ => continue,
                        };
                        push_text(&mut sites, template, id, at(field), text, place);
                    }
                }
                VariantLayer::Static(_) | VariantLayer::PollResults(_) => {}
            }
        }
    }
    sites
}

/// Adds the text `id` of `template` to `sites`.
fn push_text<'t>(
    sites: &mut Vec<Site<'t>>,
    template: &'t Template,
    variant: Option<&'t str>,
    field: String,
    id: TextId,
    place: Place,
) {
    if let Some(source) = template.texts.source(id) {
        sites.push(Site {
            variant,
            field,
            source,
            form: SourceForm::Template,
            place,
        });
    }
}

/// The bytes of a link's text that decide its scheme and host: from the
/// start to the first `/`, `?`, `#` or `\` written out after the `://`
/// (or, when the text does not begin with `http://` or `https://`, after
/// the start, since an expression then gives the scheme and host too).
/// What is inside `{{ }}`, `{% %}` and `{# #}` is filled in, so a slash
/// there ends nothing.
fn host_part(source: &str) -> Range<usize> {
    let lower = source.to_ascii_lowercase();
    let leading = source.len() - source.trim_start().len();
    let after_scheme = ["https://", "http://"]
        .iter()
        .find(|scheme| lower[leading..].starts_with(**scheme))
        .map_or(0, |scheme| leading + scheme.len());
    let mut index = after_scheme;
    while index < source.len() {
        let rest = &source[index..];
        let close = ["{{", "{%", "{#"]
            .iter()
            .zip(["}}", "%}", "#}"])
            .find(|(open, _)| rest.starts_with(**open))
            .map(|(_, close)| close);
        if let Some(close) = close {
            index = rest[2..]
                .find(close)
                .map_or(source.len(), |at| index + 2 + at + 2);
            continue;
        }
        if rest.starts_with(['/', '?', '#', '\\']) {
            return 0..index;
        }
        index += rest.chars().next().map_or(1, char::len_utf8);
    }
    0..source.len()
}

/// The name of `known` nearest `name`, when it is at most two edits away
/// (or a third of its length, for long names).
fn closest_name(name: &str, known: &BTreeSet<&str>) -> Option<String> {
    let limit = (name.chars().count() / 3).max(2);
    known
        .iter()
        .map(|candidate| (edit_distance(name, candidate), *candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min()
        .map(|(_, candidate)| candidate.to_string())
}

/// Levenshtein distance, with a swap of neighbours counting as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    rows[0] = (0..=b.len()).collect();
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

fn write_site(
    f: &mut fmt::Formatter<'_>,
    file: &std::path::Path,
    variant: Option<&str>,
    field: &str,
) -> fmt::Result {
    write!(f, "{}: ", file.display())?;
    if let Some(variant) = variant {
        write!(f, "variant {variant:?}: ")?;
    }
    write!(f, "{field}: ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_part_ends_at_the_first_written_slash_after_the_scheme() {
        let host = |source: &str| source[host_part(source)].to_string();
        assert_eq!(
            host("https://{{ query.sub }}.example.com/x?y={{ query.y }}"),
            "https://{{ query.sub }}.example.com"
        );
        assert_eq!(host("https://example.com?q=1"), "https://example.com");
        assert_eq!(host("{{ query.base }}/path"), "{{ query.base }}");
        assert_eq!(host("{{ query.url }}"), "{{ query.url }}");
        assert_eq!(
            host("https://{{ '/'.join(['a']) }}.example.com/"),
            "https://{{ '/'.join(['a']) }}.example.com"
        );
    }

    #[test]
    fn the_closest_field_is_a_few_edits_away() {
        let known = BTreeSet::from(["first_name", "last_order_at", "time_zone"]);
        assert_eq!(
            closest_name("frist_name", &known).as_deref(),
            Some("first_name")
        );
        assert_eq!(closest_name("plan", &known), None);
    }
}
