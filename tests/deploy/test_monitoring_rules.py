"""deploy/prometheus and deploy/grafana against what a real ``mlmkit serve`` exports.

- ``promtool check rules`` / ``check config`` accept the shipped files;
- every series an alert or a dashboard panel names is in a real exposition (demo workspace,
  every job run, a rollout running), with the labels the selectors use;
- ``promtool test rules`` evaluates the shipped rules on input series copied from that
  exposition, and the alerts that fire are exactly those computed here from the same samples
  (an oracle in Python): a model below its threshold, an idle production model, open critical
  alerts; after traffic and jobs stop, the stale and late alerts; an exporter that is down.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from _monitoring import DEPLOY, FRESH, IDLE, ROOT, build_workspace, label_sets, samples, scrape

pytestmark = pytest.mark.slow

ALERTS = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "mlmkit.json"
INSTANCE = "127.0.0.1:9108"
# names PromQL knows that are not series
_WORDS = {"by", "on", "without", "ignoring", "group_left", "group_right", "and", "or", "unless",
          "bool", "offset", "time", "vector", "label_replace", "sum", "max", "min", "group",
          "rate", "increase", "absent", "humanizePercentage", "inf", "nan"}


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is not installed (apt-get install prometheus): rules NOT checked")
    return found


@pytest.fixture(scope="module")
def exposition(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, float]:
    db = build_workspace(tmp_path_factory.mktemp("monitoring") / "ws.duckdb")
    return scrape(db, "--window", "30d")


def rule_list() -> list[dict]:
    return [r for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]]


def dashboard_exprs() -> list[str]:
    dash = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]


def names_in(expr: str) -> set[str]:
    """Series names of a PromQL expression (label matchers and strings removed)."""
    bare = re.sub(r'"[^"]*"', '""', expr)
    bare = re.sub(r"\{[^}]*\}", "", bare)
    bare = re.sub(r"\[[^\]]*\]", "", bare)
    bare = re.sub(r"\b(by|on|without|ignoring|group_left|group_right)\s*\([^)]*\)", "", bare)
    found = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", bare)) - _WORDS
    return {n for n in found if not re.fullmatch(r"\d+[smhd]?|e\d+", n)}


def selectors(expr: str) -> list[tuple[str, set[str]]]:
    """(series name, label names matched) of every ``name{...}`` selector."""
    return [(name, set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", body)))
            for name, body in re.findall(r"([A-Za-z_:][A-Za-z0-9_:]*)\{([^}]*)\}", expr)]


def test_name_extraction() -> None:
    expr = ('sum by (model) (mlmkit_a{x="y"}) > on (job) group_left () mlmkit:b:c '
            'or rate(mlmkit_c_total[5m]) and time() - up{job="mlmkit"} > 1e3')
    assert names_in(expr) == {"mlmkit_a", "mlmkit:b:c", "mlmkit_c_total", "up"}
    assert selectors(expr) == [("mlmkit_a", {"x"}), ("up", {"job"})]


def test_promtool_check_rules() -> None:
    run = subprocess.run([promtool(), "check", "rules", str(ALERTS)], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


def test_promtool_check_config(tmp_path: Path) -> None:
    token = tmp_path / "mlmkit.token"
    token.write_text("mlmk_example\n")
    text = (DEPLOY / "prometheus" / "prometheus.yml").read_text()
    assert "/etc/prometheus/mlmkit.token" in text and "mlmkit-alerts.yml" in text
    text = text.replace("/etc/prometheus/rules/mlmkit-alerts.yml", str(ALERTS))
    text = text.replace("/etc/prometheus/mlmkit.token", str(token))
    config = tmp_path / "prometheus.yml"
    config.write_text(text)
    run = subprocess.run([promtool(), "check", "config", str(config)], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    scrape_cfg = yaml.safe_load(text)["scrape_configs"][0]
    assert scrape_cfg["honor_labels"] is True  # keeps the exporter's `job` label


def test_every_series_named_is_exported(exposition: tuple[str, float]) -> None:
    exported = label_sets(exposition[0])
    recorded = {r["record"] for r in rule_list() if "record" in r}
    exprs = [r["expr"] for r in rule_list()] + dashboard_exprs()
    for expr in exprs:
        for name in names_in(expr):
            if ":" in name:
                assert name in recorded, f"{name} is neither exported nor recorded: {expr}"
            elif name != "up":
                assert name in exported, f"{name} is not exported by mlmkit serve: {expr}"
        for name, labels in selectors(expr):
            if name in exported:
                missing = labels - exported[name]
                assert not missing, f"{name} has no label {missing}: {expr}"
            elif name == "up":
                assert labels <= {"job", "instance"}, expr


def test_dashboard_is_valid_and_templated(exposition: tuple[str, float], tmp_path: Path) -> None:
    dash = json.loads(DASHBOARD.read_text())
    exported = label_sets(exposition[0])
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert {"datasource", "model", "version", "environment"} <= set(variables)
    for name in ("model", "version", "environment"):
        query = variables[name]["query"]["query"]
        found = re.fullmatch(r"label_values\((\w+)(\{[^}]*\})?,\s*(\w+)\)", query)
        assert found, query
        assert found.group(3) in exported[found.group(1)], query
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    exprs = dashboard_exprs()
    assert len(exprs) >= 15
    # every model panel is filtered by all three variables
    for expr in exprs:
        if "mlmkit_model_" in expr and "open_alerts" not in expr:
            assert all(f"${v}" in expr for v in ("model", "version", "environment")), expr
    # the expressions parse: promtool checks them as recording rules (variables substituted)
    rules = [{"record": f"dashboard:expr_{i}:check",
              "expr": e.replace("$__rate_interval", "5m").replace("$model", ".*")
              .replace("$version", ".*").replace("$environment", ".*")}
             for i, e in enumerate(exprs)]
    checked = tmp_path / "dashboard_rules.yml"
    checked.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    run = subprocess.run([promtool(), "check", "rules", str(checked)], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


def test_runbook_anchors_exist() -> None:
    text = (ROOT / "docs" / "DEPLOYMENT.md").read_text()
    headings = {re.sub(r"[^\w-]", "", h.strip().lower().replace(" ", "-"))
                for h in re.findall(r"^#+ (.+)$", text, re.MULTILINE)}
    for rule in rule_list():
        if "alert" in rule:
            runbook = rule["annotations"]["runbook"]
            page, _, anchor = runbook.partition("#")
            assert page == "docs/DEPLOYMENT.md" and anchor in headings, runbook
            assert rule["labels"]["severity"] in ("warning", "critical")


# -- promtool test rules: the alerts that fire on a real exposition -------------------------
OVERRIDE = ("n1-detector", "accuracy", 0.99)  # a per-model threshold the demo cannot meet
DEFAULTS = {"accuracy": 0.85, "precision": 0.70, "recall": 0.70, "f1": 0.70}


def _series(text: str, taken: float, *, advancing: bool, steps: int = 120) -> list[dict]:
    out = [{"series": f'up{{instance="{INSTANCE}",job="mlmkit"}}', "values": f"1x{steps}"}]
    for name, labels, value in samples(text):
        labels = {"instance": INSTANCE, "job": "mlmkit", **labels}
        body = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        if name.endswith("_timestamp_seconds"):  # rebased: the scrape happened at test time 0
            start = round(value - taken, 3)
            values = f"{start}+60x{steps}" if advancing else f"{start}x{steps}"
        else:
            values = f"{value!r}x{steps}"
        out.append({"series": f"{name}{{{body}}}", "values": values})
    return out


def _labels(sample_labels: dict[str, str], **extra: str) -> dict[str, str]:
    return {"instance": INSTANCE, "job": "mlmkit", **sample_labels, **extra}


def expected_when_fresh(text: str, taken: float) -> dict[str, list[dict[str, str]]]:
    """The alerts the shipped rules must fire on the scrape, computed here from the samples."""
    by_name: dict[str, list[tuple[dict[str, str], float]]] = {}
    for name, labels, value in samples(text):
        by_name.setdefault(name, []).append((labels, value))
    key = ("model", "version", "environment")

    def lookup(name: str) -> dict[tuple[str, ...], float]:
        return {tuple(lb[k] for k in key): v for lb, v in by_name.get(name, [])}

    labelled = lookup("mlmkit_model_labelled_predictions")
    low = []
    for metric, default in DEFAULTS.items():
        for labels, value in by_name.get(f"mlmkit_model_{metric}_ratio", []):
            own = OVERRIDE[2] if (labels["model"], metric) == OVERRIDE[:2] else default
            if (labels["environment"] != "none" and value < own
                    and labelled[tuple(labels[k] for k in key)] >= 100):
                low.append(_labels(labels, metric=metric, severity="warning"))
    newest = lookup("mlmkit_model_last_prediction_timestamp_seconds")
    stale = [_labels(lb, severity="warning") for lb, n in by_name["mlmkit_model_predictions"]
             if lb["environment"] == "production"
             and (n == 0 or taken - newest[tuple(lb[k] for k in key)] > 1800)]
    critical: dict[tuple[str, str], float] = {}
    for lb, v in by_name.get("mlmkit_model_open_alerts", []):
        if lb["severity"] == "critical":
            critical[(lb["model"], lb["version"])] = critical.get((lb["model"], lb["version"]),
                                                                  0) + v
    drift = [_labels(lb, severity="warning") for lb, v in
             by_name.get("mlmkit_model_drift_share_ratio", [])
             if lb["environment"] != "none" and v > 0.3]
    failing = [_labels(lb, severity="warning") for lb, v in
               by_name.get("mlmkit_job_last_run_failed", []) if v == 1]
    return {
        "MlmkitModelMetricLow": low, "MlmkitPredictionsStale": stale,
        "MlmkitModelAlertCritical": [{"model": m, "version": v, "severity": "critical"}
                                     for (m, v), n in critical.items() if n > 0],
        "MlmkitDriftDetected": drift, "MlmkitJobFailing": failing, "MlmkitJobLate": [],
        "MlmkitExporterDown": [], "MlmkitWorkspaceDown": [], "MlmkitSnapshotStale": [],
        "MlmkitIngestFailing": [], "MlmkitLabelsMissing": [],
    }


def _run_unit_tests(tmp_path: Path, tests: list[dict]) -> None:
    # annotations are templates checked by `promtool check rules`; compared here: labels only
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    for group in groups:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    rules = tmp_path / "alerts.yml"
    rules.write_text(yaml.safe_dump({"groups": groups}))
    model, metric, value = OVERRIDE
    override = tmp_path / "override.yml"
    override.write_text(yaml.safe_dump({"groups": [{"name": "override", "interval": "1m", "rules": [
        {"record": "mlmkit:model_metric_min:ratio", "expr": f"vector({value})",
         "labels": {"metric": metric, "model": model}}]}]}))
    spec = tmp_path / "unit.yml"
    spec.write_text(yaml.safe_dump({"rule_files": [str(rules), str(override)],
                                    "evaluation_interval": "1m", "tests": tests}))
    run = subprocess.run([promtool(), "test", "rules", str(spec)], capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]


def _case(at: str, expected: dict[str, list[dict[str, str]]]) -> list[dict]:
    return [{"eval_time": at, "alertname": name,
             "exp_alerts": [{"exp_labels": labels} for labels in alerts]}
            for name, alerts in expected.items()]


def test_alerts_fire_on_a_real_exposition(exposition: tuple[str, float],
                                          tmp_path: Path) -> None:
    text, taken = exposition
    fresh = expected_when_fresh(text, taken)
    # the scenario holds what it is meant to: one must fire, one must not, for each kind
    low = {(a["model"], a["metric"]) for a in fresh["MlmkitModelMetricLow"]}
    assert ("n1-detector", "accuracy") in low and ("waf-behavioral", "accuracy") not in low
    stale = {a["model"] for a in fresh["MlmkitPredictionsStale"]}
    assert IDLE in stale and FRESH[0] not in stale
    assert fresh["MlmkitModelAlertCritical"], "the demo has an open critical alert"

    # after the scrape, traffic and jobs stop: stale predictions and late jobs
    frozen = {name: [] for name in fresh}
    frozen["MlmkitModelMetricLow"] = fresh["MlmkitModelMetricLow"]
    frozen["MlmkitModelAlertCritical"] = fresh["MlmkitModelAlertCritical"]
    frozen["MlmkitDriftDetected"] = fresh["MlmkitDriftDetected"]
    frozen["MlmkitPredictionsStale"] = [
        _labels({k: lb[k] for k in ("model", "version", "environment")}, severity="warning")
        for name, lb, _ in samples(text)
        if name == "mlmkit_model_predictions" and lb["environment"] == "production"]
    late = [lb["job"] for name, lb, _ in samples(text)
            if name == "mlmkit_job_last_success_timestamp_seconds"
            and lb["job"] in ("performance-monitoring", "rollout-advancement", "alert-delivery")]
    assert len(late) == 3
    frozen["MlmkitJobLate"] = [{"instance": INSTANCE, "job": j, "severity": "warning"}
                               for j in late]

    down = {name: [] for name in fresh}
    down["MlmkitExporterDown"] = [{"instance": INSTANCE, "job": "mlmkit",
                                   "severity": "critical"}]
    down["MlmkitWorkspaceDown"] = [{"instance": INSTANCE, "job": "mlmkit",
                                    "severity": "critical"}]
    _run_unit_tests(tmp_path, [
        {"name": "fresh scrape", "interval": "1m",
         "input_series": _series(text, taken, advancing=True),
         "alert_rule_test": _case("20m", fresh)},
        {"name": "traffic and jobs stopped", "interval": "1m",
         "input_series": _series(text, taken, advancing=False),
         "alert_rule_test": _case("60m", frozen)},
        {"name": "exporter down", "interval": "1m",
         "input_series": [
             {"series": f'up{{instance="{INSTANCE}",job="mlmkit"}}', "values": "0x30"},
             {"series": f'mlmkit_workspace_up{{instance="{INSTANCE}",job="mlmkit"}}',
              "values": "0x30"}],
         "alert_rule_test": [
             {"eval_time": "10m", "alertname": n,
              "exp_alerts": [{"exp_labels": lb} for lb in down[n]]}
             for n in ("MlmkitExporterDown", "MlmkitWorkspaceDown", "MlmkitJobLate")]},
        {"name": "target missing", "interval": "1m",
         "input_series": [{"series": 'other{job="node"}', "values": "1x30"}],
         "alert_rule_test": [{"eval_time": "10m", "alertname": "MlmkitExporterDown",
                              "exp_alerts": [{"exp_labels": {"job": "mlmkit",
                                                             "severity": "critical"}}]}]},
    ])
