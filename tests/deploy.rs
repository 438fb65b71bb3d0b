//! The deployment files in `deploy/`, checked without a cluster: every file
//! parses, the manifests have what a production rollout needs, and every
//! metric the alert rules and the dashboard name is one opentime exports.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use opentime::metrics::Metrics;
use yaml_rust2::{Yaml, YamlLoader};

fn deploy(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(file)
}

fn yaml(file: &str) -> Vec<Yaml> {
    let text = std::fs::read_to_string(deploy(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{file} is not YAML: {e}"))
}

/// Every `opentime_*` name in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("opentime_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        names.push(name);
    }
    names
}

fn exported() -> BTreeSet<String> {
    Metrics::new().series_names().iter().cloned().collect()
}

#[test]
fn alert_rules_name_only_exported_metrics() {
    let exported = exported();
    let rules = yaml("prometheus/alerts.yml");
    let groups = rules[0]["groups"].as_vec().expect("groups");
    let mut alerts = Vec::new();
    for rule in groups
        .iter()
        .flat_map(|group| group["rules"].as_vec().expect("rules"))
    {
        let name = rule["alert"].as_str().expect("every rule is an alert");
        let expr = rule["expr"].as_str().expect("every alert has an expr");
        assert!(
            rule["annotations"]["summary"].as_str().is_some(),
            "{name} says what it means"
        );
        for metric in metric_names(expr) {
            assert!(
                exported.contains(&metric),
                "{name} uses {metric}, which opentime does not export"
            );
        }
        alerts.push(name.to_string());
    }
    // What issue 7 asks the rules to cover.
    for wanted in [
        "OpentimeErrorRate",
        "OpentimeFallbackRate",
        "OpentimeLatencyP99",
        "OpentimeRedisErrors",
        "OpentimeCacheHitRatioLow",
        "OpentimeEventBufferGrowing",
    ] {
        assert!(
            alerts.iter().any(|alert| alert == wanted),
            "no {wanted} alert"
        );
    }
    let scrape = yaml("prometheus/prometheus.yml");
    assert_eq!(
        scrape[0]["scrape_configs"][0]["metrics_path"].as_str(),
        Some("/metrics")
    );
}

#[test]
fn the_dashboard_names_only_exported_metrics() {
    let exported = exported();
    let text = std::fs::read_to_string(deploy("grafana/opentime.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 10);
    let mut used = BTreeSet::new();
    for panel in panels {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("an expr");
            let names = metric_names(expr);
            assert!(!names.is_empty(), "{expr} reads no opentime metric");
            used.extend(names);
        }
    }
    let unknown: Vec<_> = used.difference(&exported).collect();
    assert!(
        unknown.is_empty(),
        "the dashboard uses metrics opentime does not export: {unknown:?}"
    );
}

#[test]
fn the_kubernetes_manifests_have_what_a_rollout_needs() {
    let documents = yaml("kubernetes/opentime.yaml");
    let kind = |wanted: &str| {
        documents
            .iter()
            .find(|document| document["kind"].as_str() == Some(wanted))
            .unwrap_or_else(|| panic!("no {wanted}"))
    };
    let deployment = kind("Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(
        container["readinessProbe"]["httpGet"]["path"].as_str(),
        Some("/readyz")
    );
    assert_eq!(
        container["livenessProbe"]["httpGet"]["path"].as_str(),
        Some("/healthz")
    );
    assert!(container["resources"]["requests"]["cpu"].as_str().is_some());
    assert!(
        container["resources"]["limits"]["memory"]
            .as_str()
            .is_some()
    );
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    // Secrets come from a Secret, never from the manifest.
    assert_eq!(
        pod["volumes"][0]["secret"]["secretName"].as_str(),
        Some("opentime-secrets")
    );
    // The pod outlives the load balancer's pause plus the server's grace.
    let config = kind("ConfigMap");
    let grace_ms: i64 = config["data"]["OPENTIME_SHUTDOWN_GRACE_MS"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        .as_i64()
        .unwrap();
    let termination = pod["terminationGracePeriodSeconds"].as_i64().unwrap();
    assert!(
        termination * 1000 > pause * 1000 + grace_ms,
        "terminationGracePeriodSeconds is too short"
    );
    // Every variable the manifests set is one opentime reads.
    let settings = opentime::config::Config::environment_names();
    assert!(settings.iter().any(|name| name == "OPENTIME_LISTEN"));
    let env_names = container["env"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|entry| entry["name"].as_str().unwrap().to_string());
    let config_names = config["data"]
        .as_hash()
        .unwrap()
        .keys()
        .map(|key| key.as_str().unwrap().to_string());
    for name in env_names.chain(config_names) {
        assert!(
            settings.contains(&name),
            "{name} is not an opentime setting"
        );
    }
    for wanted in ["Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"] {
        kind(wanted);
    }
    let secret = yaml("kubernetes/secret.example.yaml");
    assert_eq!(secret[0]["kind"].as_str(), Some("Secret"));
    let compose = yaml("docker-compose.yml");
    for service in ["opentime", "redis", "prometheus"] {
        assert!(
            !compose[0]["services"][service].is_badvalue(),
            "compose has no {service}"
        );
    }
}

#[test]
fn the_image_runs_as_a_user_with_a_health_check() {
    let dockerfile = std::fs::read_to_string(deploy("Dockerfile")).unwrap();
    assert!(
        dockerfile.matches("\nFROM ").count() + usize::from(dockerfile.starts_with("FROM ")) >= 2,
        "multi-stage"
    );
    assert!(dockerfile.contains("\nUSER 10001"), "a non-root user");
    assert!(dockerfile.contains("HEALTHCHECK") && dockerfile.contains("/healthz"));
    assert!(dockerfile.contains("COPY fonts fonts") && dockerfile.contains("COPY assets assets"));
}
