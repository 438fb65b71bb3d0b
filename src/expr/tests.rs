//! Conditions and texts end to end: compiled from source, evaluated against
//! contexts built from request facts, as the decision step uses them.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::*;

/// Friday 14 March 2025, 09:30:00 UTC: 10:30 in Paris, 18:30 in Tokyo.
const FIXED_NOW: &str = "2025-03-14T09:30:00Z";

const IPHONE_MAIL: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) \
                           AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148";

/// Profile fields, name and raw value, as a test writes them.
type Fields<'a> = &'a [(&'a str, &'a str)];

fn facts(fields: Fields) -> RequestFacts {
    RequestFacts {
        profile: Some(Profile {
            fields: fields
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
        }),
        query: BTreeMap::from([("campaign".to_string(), "spring sale".to_string())]),
        now: FIXED_NOW.parse::<Timestamp>().expect("valid timestamp"),
        user_agent: Some(IPHONE_MAIL.to_string()),
        is_head: false,
        opener: None,
        geo: None,
    }
}

fn context(fields: Fields) -> Context {
    Context::new(&facts(fields))
}

fn eval(source: &str, context: &Context) -> Result<bool, ExprError> {
    Condition::compile(source)?.eval(context)
}

fn render(source: &str, context: &Context) -> Result<String, ExprError> {
    let mut texts = TextSet::new();
    let id = texts.add(source)?;
    texts.render(id, context)
}

use crate::recipient::Profile;

#[test]
fn conditions_read_typed_profile_fields_time_device_and_opener() {
    let gold = &[
        ("points", "12480"),
        ("balance", "-3"),
        ("ratio", "12.5"),
        ("vip", "true"),
        ("churned", "false"),
        ("zip", "02134"),
        ("renews_on", "2025-03-15"),
        ("renewed_at", "2025-03-01T08:00:00Z"),
        ("first_name", "Ada"),
        ("time_zone", "Europe/Paris"),
    ];
    let cases: &[(&str, Fields, bool)] = &[
        // Typed numbers and booleans.
        ("profile.points > 1000", gold, true),
        ("profile.points > 20000", gold, false),
        ("profile.balance < 0", gold, true),
        ("profile.ratio == 12.5", gold, true),
        ("profile.ratio > 12", gold, true),
        ("profile.vip", gold, true),
        ("profile.vip == true", gold, true),
        ("profile.churned", gold, false),
        ("not profile.churned", gold, true),
        ("profile.points is number", gold, true),
        // A ZIP code stays the string it was written as.
        ("profile.zip == '02134'", gold, true),
        ("profile.zip is string", gold, true),
        // Defined or not.
        ("profile.renewed_at is defined", gold, true),
        ("profile.renewed_at is defined", &[], false),
        ("profile.missing is defined", gold, false),
        ("profile.missing is undefined", gold, true),
        ("profile.missing", gold, false),
        ("profile.missing.deeper is defined", gold, false),
        ("profile.missing.deeper.still", gold, false),
        ("profile.first_name | default('there') == 'Ada'", gold, true),
        (
            "profile.first_name | default('there') == 'there'",
            &[],
            true,
        ),
        // ISO dates compare as strings, and through the helpers.
        ("profile.renews_on > '2025-03-01'", gold, true),
        ("profile.renews_on < now.date", gold, false),
        ("profile.renewed_at < '2025-03-02'", gold, true),
        ("days_until(profile.renews_on) == 1", gold, true),
        ("days_until(profile.renews_on) <= 7", gold, true),
        ("days_since(profile.renewed_at) == 13", gold, true),
        ("days_until(profile.missing) is undefined", gold, true),
        // Time zones: 09:30 UTC is 10:30 in Paris, 18:30 in Tokyo.
        ("now.hour == 10", gold, true),
        ("now.hour == 18", &[("time_zone", "Asia/Tokyo")], true),
        ("now.hour == 9", &[], true),
        ("now.hour == 9", &[("time_zone", "Not/AZone")], true),
        ("now.weekday == 5 and now.date == '2025-03-14'", gold, true),
        ("now.weekday >= 6", gold, false),
        // Device and opener of an iPhone Mail open.
        ("device.kind == 'mobile'", gold, true),
        (
            "device.os == 'ios' and device.client == 'apple_mail'",
            gold,
            true,
        ),
        ("device.kind == 'desktop'", gold, false),
        ("opener == 'human'", gold, true),
        ("opener != 'human'", gold, false),
        // Query parameters.
        ("query.campaign == 'spring sale'", gold, true),
        ("query.missing is defined", gold, false),
        // Truthiness of plain values.
        ("profile.first_name", gold, true),
        ("0", gold, false),
        ("''", gold, false),
        ("[]", gold, false),
        ("'x'", gold, true),
    ];
    for (source, fields, expected) in cases {
        let got = eval(source, &context(fields));
        assert_eq!(got, Ok(*expected), "{source} with {fields:?}");
    }
}

#[test]
fn openers_reach_conditions() {
    let mut apple = facts(&[]);
    apple.user_agent = Some("Mozilla/5.0".to_string());
    let apple = Context::new(&apple);
    assert_eq!(apple.opener, Opener::AppleProxy);
    assert_eq!(eval("opener == 'apple_proxy'", &apple), Ok(true));
    assert_eq!(eval("device.client == 'apple_mail'", &apple), Ok(true));

    let mut head = facts(&[]);
    head.is_head = true;
    assert_eq!(eval("opener == 'scanner'", &Context::new(&head)), Ok(true));

    let nobody = Context::new(&RequestFacts::default());
    assert_eq!(nobody.opener, Opener::Scanner);
    assert_eq!(eval("profile.x is defined", &nobody), Ok(false));
    assert_eq!(eval("profile | length == 0", &nobody), Ok(true));
}

#[test]
fn texts_interpolate_and_format() {
    let ada = &[
        ("first_name", "Ada"),
        ("points", "12480"),
        ("balance", "1234567.5"),
        ("renews_on", "2025-03-15"),
        ("ends_at", "2025-03-14T23:00:00Z"),
        ("started_on", "2025-02-12"),
        ("time_zone", "Europe/Paris"),
        ("email", "ada+news@example.com"),
    ];
    let cases: &[(&str, Fields, &str)] = &[
        ("Renew now", ada, "Renew now"),
        (
            "Thank you, {{ profile.first_name }}!",
            ada,
            "Thank you, Ada!",
        ),
        (
            "Hi {{ profile.first_name | default('there') }}",
            ada,
            "Hi Ada",
        ),
        (
            "Hi {{ profile.first_name | default('there') }}",
            &[],
            "Hi there",
        ),
        ("[{{ profile.missing }}]", ada, "[]"),
        ("[{{ profile.missing.deeper }}]", ada, "[]"),
        ("{{ profile.points | number }} points", ada, "12,480 points"),
        ("{{ profile.points | number('.') }}", ada, "12.480"),
        ("{{ profile.points | number(' ') }}", ada, "12 480"),
        (
            "{{ profile.balance | number(',', 2) }}",
            ada,
            "1,234,567.50",
        ),
        (
            "{{ profile.balance | number('.', 2) }}",
            ada,
            "1.234.567,50",
        ),
        (
            "{{ profile.renews_on | date('%d %B %Y') }}",
            ada,
            "15 March 2025",
        ),
        ("{{ profile.renews_on | date }}", ada, "2025-03-15"),
        // 23:00 UTC on the 14th is already the 15th in Paris.
        (
            "{{ profile.ends_at | date('%d/%m %H:%M') }}",
            ada,
            "15/03 00:00",
        ),
        ("{{ now | date('%A %H:%M %Z') }}", ada, "Friday 10:30 CET"),
        ("{{ now }}", ada, "2025-03-14T10:30:00+01:00"),
        ("{{ now }}", &[], "2025-03-14T09:30:00+00:00"),
        (
            "{{ now.year }}-{{ now.month }}-{{ now.day }}",
            ada,
            "2025-3-14",
        ),
        (
            "{{ days_until(profile.renews_on) }} day left",
            ada,
            "1 day left",
        ),
        ("{{ days_until(now.date) }}", ada, "0"),
        ("{{ days_until('2025-03-10') }}", ada, "-4"),
        ("{{ days_since(profile.started_on) }}", ada, "30"),
        ("{{ hours_until(profile.ends_at) }}h", ada, "13h"),
        ("{{ hours_until(profile.renews_on) }}h", ada, "13h"),
        ("{{ hours_since('2025-03-14T08:00:00Z') }}h", ada, "1h"),
        (
            "{{ days_until(profile.missing) | default('soon') }}",
            ada,
            "soon",
        ),
        (
            "https://example.com/?c={{ query.campaign | urlencode }}&e={{ profile.email | urlencode }}",
            ada,
            "https://example.com/?c=spring%20sale&e=ada%2Bnews%40example.com",
        ),
        // Not HTML-escaped: texts become pixels.
        ("{{ 'Fish & <Chips>' }}", ada, "Fish & <Chips>"),
        (
            "{% if profile.points > 10000 %}Gold{% else %}Silver{% endif %}",
            ada,
            "Gold",
        ),
        ("line\n", ada, "line\n"),
        ("{{ profile.first_name }}\n", ada, "Ada\n"),
    ];
    for (source, fields, expected) in cases {
        let got = render(source, &context(fields));
        assert_eq!(got.as_deref(), Ok(*expected), "{source:?} with {fields:?}");
    }
}

#[test]
fn a_days_count_is_calendar_days_in_the_recipients_zone() {
    // 09:30 UTC is 18:30 in Tokyo; a renewal "tomorrow" there is the 15th,
    // whatever the hour, and in Honolulu (23:30 on the 13th) the 15th is two
    // days away.
    let tokyo = context(&[("renews_on", "2025-03-15"), ("time_zone", "Asia/Tokyo")]);
    assert_eq!(
        render("{{ days_until(profile.renews_on) }}", &tokyo).as_deref(),
        Ok("1")
    );
    let honolulu = context(&[
        ("renews_on", "2025-03-15"),
        ("time_zone", "Pacific/Honolulu"),
    ]);
    assert_eq!(
        render("{{ days_until(profile.renews_on) }}", &honolulu).as_deref(),
        Ok("2")
    );
}

#[test]
fn text_ids_address_their_own_texts() {
    let ada = context(&[("first_name", "Ada")]);
    let mut texts = TextSet::new();
    let plain = texts.add("Renew now").expect("plain text");
    let hello = texts
        .add("Hello {{ profile.first_name }}")
        .expect("valid text");
    let bye = texts
        .add("Bye {{ profile.first_name }}")
        .expect("valid text");
    assert_eq!(texts.len(), 3);
    assert_eq!(texts.render(bye, &ada).as_deref(), Ok("Bye Ada"));
    assert_eq!(texts.render(plain, &ada).as_deref(), Ok("Renew now"));
    assert_eq!(texts.render(hello, &ada).as_deref(), Ok("Hello Ada"));
    assert!(matches!(
        texts.render(TextId(9), &ada),
        Err(ExprError::Eval(_))
    ));
}

#[test]
fn syntax_errors_say_where_and_what() {
    let cases: &[(&str, &str)] = &[
        // minijinja places an early end of input on the last token.
        (
            "profile.points >",
            "line 1, column 16: syntax error: unexpected end of input, expected expression",
        ),
        (
            "profile.points > > 3",
            "line 1, column 18: syntax error: unexpected `>`",
        ),
        (
            "(profile.x",
            "line 1, column 10: syntax error: unexpected end of input, expected `)`",
        ),
        (
            "a b",
            "line 1, column 3: syntax error: unexpected input after expression",
        ),
    ];
    for (source, expected) in cases {
        match Condition::compile(source) {
            Err(ExprError::Syntax(message)) => {
                assert!(message.starts_with(expected), "{source}: {message}")
            }
            other => panic!("{source}: expected a syntax error, got {other:?}"),
        }
    }

    let mut texts = TextSet::new();
    match texts.add("Hello\n{{ profile.first_name }\nand more") {
        Err(ExprError::Syntax(message)) => {
            assert_eq!(
                message,
                "line 2, column 23: syntax error: unexpected `}`, expected end of variable block"
            );
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
    match texts.add("{% if x %}unclosed") {
        Err(ExprError::Syntax(message)) => {
            assert!(message.contains("unexpected end of input"), "{message}")
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
    // A failed add leaves the set usable.
    assert!(texts.is_empty());
    let id = texts.add("ok {{ 1 + 1 }}").expect("valid text");
    assert_eq!(texts.render(id, &context(&[])).as_deref(), Ok("ok 2"));
}

#[test]
fn runtime_errors_are_surfaced_as_eval_errors() {
    let ada = context(&[
        ("first_name", "Ada"),
        ("renews_on", "soon"),
        ("points", "12480"),
    ]);
    let cases = [
        "profile.first_name + 1 > 0",
        "days_until(profile.renews_on) < 7",
        "profile.first_name | number",
        "1 / 0",
    ];
    match eval("profile.points > 0 and profile.first_name + 1 > 0", &ada) {
        Err(ExprError::Eval(message)) => assert_eq!(
            message,
            "line 1, column 24: invalid operation: \
             tried to use + operator on unsupported types string and number"
        ),
        other => panic!("expected an evaluation error, got {other:?}"),
    }
    for source in cases {
        match eval(source, &ada) {
            Err(ExprError::Eval(message)) => assert!(!message.is_empty(), "{source}"),
            other => panic!("{source}: expected an evaluation error, got {other:?}"),
        }
    }
    match render("Hi\n{{ days_until(profile.renews_on) }}", &ada) {
        Err(ExprError::Eval(message)) => {
            assert!(message.starts_with("line 2"), "{message}");
            assert!(message.contains("days_until"), "{message}");
            // The recipient's data stays out of messages that reach logs.
            assert!(!message.contains("soon"), "{message}");
        }
        other => panic!("expected an evaluation error, got {other:?}"),
    }
    match render(
        "{{ profile.renews_on | date('%J') }}",
        &context(&[("renews_on", "2025-03-15")]),
    ) {
        Err(ExprError::Eval(message)) => {
            assert!(
                message.contains("date: cannot format with \"%J\""),
                "{message}"
            )
        }
        other => panic!("expected an evaluation error, got {other:?}"),
    }
}

#[test]
fn unknown_filters_tests_and_functions_are_refused_when_compiled() {
    let unknown = |result: Result<(), ExprError>| match result {
        Err(ExprError::UnknownName(message)) => message,
        other => panic!("expected an unknown name, got {other:?}"),
    };
    let condition = |source: &str| Condition::compile(source).map(|_| ());
    let text = |source: &str| TextSet::new().add(source).map(|_| ());
    assert_eq!(
        unknown(text("Hi {{ profile.first_name | upercase }}")),
        "line 1, column 28: unknown filter \"upercase\" (did you mean \"upper\"?)"
    );
    assert_eq!(
        unknown(condition("days_sinse(profile.last_order_on) > 90")),
        "line 1, column 1: unknown function \"days_sinse\" (did you mean \"days_since\"?)"
    );
    assert_eq!(
        unknown(condition("profile.points is defnied")),
        "line 1, column 19: unknown test \"defnied\" (did you mean \"defined\"?)"
    );
    // A branch no state reaches is checked all the same, and a name far
    // from any known one gets no suggestion.
    let message = unknown(text(
        "{% if profile.vip %}{{ profile.name | sparkle }}{% endif %}",
    ));
    assert!(message.ends_with("unknown filter \"sparkle\""), "{message}");
    // A filter block and a filter's argument are walked too.
    unknown(text("{% filter shout %}hi{% endfilter %}"));
    unknown(text("{{ profile.a | default(profile.b | numbr) }}"));
    // `debug` is removed from the environment, so it is unknown.
    unknown(text("{{ debug() }}"));

    // opentime's helpers, minijinja's built-ins and the names a text binds
    // itself are known.
    condition("days_until(profile.renews_on) < 7 and profile.x is defined").expect("known");
    condition("profile.name | upper | length > 3 and range(3) | list").expect("built-ins");
    text("{{ profile.points | number }} {{ profile.renews_on | date('%d %B') }}").expect("helpers");
    text("{% macro greet(name) %}Hi {{ name }}{% endmacro %}{{ greet(profile.first_name) }}")
        .expect("a macro is callable");
    text("{% set shout = namespace(x=1) %}{% for i in range(2) %}{{ loop.index }}{% endfor %}")
        .expect("globals and loop variables");
}

#[test]
fn fields_read_are_found_with_where_they_are_written() {
    let source = "https://{{ query.sub }}.example.com/?n={{ profile['first_name'] | upper }}";
    let reads = fields_read(source, SourceForm::Template);
    let found: Vec<(&str, &str, &str)> = reads
        .iter()
        .map(|read| {
            (
                read.root.as_str(),
                read.field.as_str(),
                &source[read.range.clone()],
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("query", "sub", "query.sub"),
            ("profile", "first_name", "profile['first_name']")
        ]
    );
    let reads = fields_read("profile.frist_name == query.plan", SourceForm::Expression);
    assert_eq!(reads.len(), 2);
    assert_eq!(reads[0].field, "frist_name");
}

#[test]
fn runaway_templates_run_out_of_fuel() {
    let nobody = context(&[]);
    let nested_loops =
        "{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}";
    match render(nested_loops, &nobody) {
        Err(ExprError::Eval(message)) => {
            assert!(message.ends_with("engine ran out of fuel"), "{message}")
        }
        other => panic!("expected fuel exhaustion, got {other:?}"),
    }
    // Fuel is per evaluation, not per condition: a cheap condition evaluated
    // more often than the fuel would last in one go keeps working.
    let cheap = Condition::compile("opener == 'human' and 1 + 1 == 2").expect("valid condition");
    for _ in 0..FUEL / 2 {
        assert_eq!(cheap.eval(&nobody), Ok(true));
    }
    // A small loop is fine.
    assert_eq!(
        render("{% for i in range(3) %}{{ i }}{% endfor %}", &nobody).as_deref(),
        Ok("012")
    );
}

#[test]
fn deep_recursion_is_stopped() {
    let nobody = context(&[]);
    let recursive = "{% macro down(n) %}{{ down(n + 1) }}{% endmacro %}{{ down(0) }}";
    assert!(matches!(
        render(recursive, &nobody),
        Err(ExprError::Eval(_))
    ));
}

#[test]
fn huge_texts_are_refused() {
    let nobody = context(&[]);
    match render("{{ 'x' * 1000000 }}", &nobody) {
        Err(ExprError::Eval(message)) => assert!(message.contains("longer than"), "{message}"),
        other => panic!("expected a size error, got {other:?}"),
    }
}

#[test]
fn conditions_and_text_sets_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Condition>();
    assert_send_sync::<TextSet>();
    assert_send_sync::<Context>();
    assert_send_sync::<ExprError>();
}

#[test]
fn geo_is_a_map_of_what_is_known_and_empty_without_a_location() {
    let london = crate::geo::Location {
        country: Some("GB".to_string()),
        region: Some("ENG".to_string()),
        region_name: Some("England".to_string()),
        city: Some("London".to_string()),
        time_zone: None,
    };
    let located = Context::new(&RequestFacts {
        geo: Some(london),
        ..facts(&[])
    });
    let nowhere = context(&[]);
    let cases: &[(&str, bool, bool)] = &[
        ("geo.country == 'GB'", true, false),
        ("geo.country in ['DE', 'GB']", true, false),
        ("geo.country | default('US') == 'US'", false, true),
        (
            "geo.country | default(\"US\") in [\"US\", \"CA\"]",
            false,
            true,
        ),
        ("geo.city is defined", true, false),
        ("geo.time_zone is defined", false, false),
        ("geo.missing is defined", false, false),
        ("geo | length == 0", false, true),
    ];
    for (source, when_located, when_not) in cases {
        assert_eq!(eval(source, &located).unwrap(), *when_located, "{source}");
        assert_eq!(eval(source, &nowhere).unwrap(), *when_not, "{source}");
    }
    assert_eq!(
        render(
            "{% if geo.city is defined %}Visit us in {{ geo.city }}{% else %}Find a store near you{% endif %}",
            &located
        )
        .unwrap(),
        "Visit us in London"
    );
    assert_eq!(
        render("{{ geo.city | default('your city') }}", &nowhere).unwrap(),
        "your city"
    );
    // Opening hours as docs/geo.md writes them: 09:30 UTC on a Friday.
    assert_eq!(
        render(
            "{{ \"We're open now\" if 9 <= now.hour < 18 and now.weekday <= 5 else \"We open at 9\" }}",
            &nowhere
        )
        .unwrap(),
        "We're open now"
    );
    // A scanner's click is no reader's: its context loses `geo`.
    let scanner = located.with_opener(Opener::Scanner);
    assert!(eval("geo | length == 0", &scanner).unwrap());
}
