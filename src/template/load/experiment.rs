//! Checking a template's experiment and click id: arms that are
//! identifiers with shares adding up to 100, a variant for every arm, no
//! variant naming an arm that does not exist, and a sane winner rule.

use super::{Builder, TemplateError, is_identifier};
use crate::template::file::ExperimentFile;
use crate::template::{Arm, Experiment, Variant, WinnerRule};

/// How far from 100 the shares may add up, for shares written with
/// decimals (33.33, 33.33, 33.34).
const SHARE_SLACK: f64 = 1e-6;

impl Builder<'_> {
    pub(super) fn experiment(
        &self,
        file: Option<ExperimentFile>,
        variants: &[Variant],
    ) -> Result<Option<Experiment>, TemplateError> {
        let Some(file) = file else {
            if let Some((index, variant)) = variants
                .iter()
                .enumerate()
                .find(|(_, variant)| variant.arm.is_some())
            {
                return Err(self.error(
                    Some(&variant.id),
                    &format!("variants[{index}].arm"),
                    "names an arm, but the template has no experiment".into(),
                ));
            }
            return Ok(None);
        };
        if !is_identifier(&file.id, true) {
            return Err(self.error(
                None,
                "experiment.id",
                "use lowercase letters, digits, '-' and '_'".into(),
            ));
        }
        if file.arms.len() < 2 {
            return Err(self.error(
                None,
                "experiment.arms",
                "an experiment compares at least two arms".into(),
            ));
        }
        let mut total = 0.0;
        for (name, weight) in &file.arms {
            let field = format!("experiment.arms.{name}");
            if !is_identifier(name, true) {
                return Err(self.error(
                    None,
                    &field,
                    "an arm's name is lowercase letters, digits, '-' and '_'".into(),
                ));
            }
            if !weight.is_finite() || *weight < 0.0 {
                return Err(self.error(
                    None,
                    &field,
                    format!("is a share in percent, 0 to 100, not {weight}"),
                ));
            }
            total += weight;
        }
        if (total - 100.0).abs() > SHARE_SLACK {
            return Err(self.error(
                None,
                "experiment.arms",
                format!("the arms' shares add up to {total}, not 100"),
            ));
        }
        for (index, paused) in file.paused.iter().enumerate() {
            if !file.arms.contains_key(paused) {
                return Err(self.error(
                    None,
                    &format!("experiment.paused[{index}]"),
                    format!("{paused:?} is not one of the experiment's arms"),
                ));
            }
        }
        let arms: Vec<Arm> = file
            .arms
            .iter()
            .map(|(name, weight)| Arm {
                name: name.clone(),
                weight: *weight,
                paused: file.paused.contains(name),
            })
            .collect();
        if !arms.iter().any(Arm::is_open) {
            return Err(self.error(
                None,
                "experiment.paused",
                "every arm is paused or has a share of 0: at least one must be given to recipients"
                    .into(),
            ));
        }
        for (index, variant) in variants.iter().enumerate() {
            if let Some(arm) = &variant.arm
                && !file.arms.contains_key(arm)
            {
                return Err(self.error(
                    Some(&variant.id),
                    &format!("variants[{index}].arm"),
                    format!(
                        "{arm:?} is not one of the experiment's arms ({})",
                        arm_names(&arms)
                    ),
                ));
            }
        }
        if let Some(arm) = arms
            .iter()
            .find(|arm| !variants.iter().any(|v| v.arm.as_deref() == Some(&arm.name)))
        {
            return Err(self.error(
                None,
                &format!("experiment.arms.{}", arm.name),
                format!(
                    "no variant shows the arm {:?}: give one variant \"arm\": {:?}",
                    arm.name, arm.name
                ),
            ));
        }
        let winner = match file.winner {
            None => None,
            Some(rule) => {
                if !(rule.probability > 0.5 && rule.probability < 1.0) {
                    return Err(self.error(
                        None,
                        "experiment.winner.probability",
                        format!(
                            "is the probability of being best that wins, above 0.5 and below 1, not {}",
                            rule.probability
                        ),
                    ));
                }
                if rule.min_exposures == 0 {
                    return Err(self.error(
                        None,
                        "experiment.winner.min_exposures",
                        "is at least 1: no arm may win before anyone saw it".into(),
                    ));
                }
                Some(WinnerRule {
                    min_exposures: rule.min_exposures,
                    probability: rule.probability,
                })
            }
        };
        Ok(Some(Experiment {
            id: file.id,
            arms,
            metric: file.metric,
            winner,
            switch_all: file.switch_all,
        }))
    }

    /// The click id's query parameter: a parameter name that is not one
    /// opentime reads itself.
    pub(super) fn click_id(&self, name: Option<String>) -> Result<Option<String>, TemplateError> {
        let Some(name) = name else {
            return Ok(None);
        };
        if !is_identifier(&name, false)
            || name.len() > 32
            || matches!(name.as_str(), "t" | "s" | "e")
        {
            return Err(self.error(
                None,
                "click_id",
                "is the name of the query parameter the click adds: lowercase letters, digits and '_', at most 32, such as \"ot_click\"".into(),
            ));
        }
        Ok(Some(name))
    }
}

fn arm_names(arms: &[Arm]) -> String {
    arms.iter()
        .map(|arm| arm.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
