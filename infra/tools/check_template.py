#!/usr/bin/env python3
"""Checks the dispatcher's invariants on the SAM template after the SAM transform, offline.

Linters accept a misspelt FunctionResponseTypes, a queue without a redrive policy or a visibility
timeout shorter than its consumer's timeout; any of those silently loses or duplicates messages.
Usage: .venv-tools/bin/python infra/tools/check_template.py [template.yaml]   (exit 1 on a violation)
"""
import json
import os
import re
import sys

# The transform's pseudo-parameters need a region; no credentials are needed or used.
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from samtranslator.model.exceptions import InvalidDocumentException  # noqa: E402
from samtranslator.translator.transform import transform  # noqa: E402
from samtranslator.yaml_helper import yaml_parse  # noqa: E402


class NoManagedPolicies:
    """The transform asks IAM for managed policy ARNs; offline there are none to look up."""

    def load(self):
        return {}


def seconds(value):
    """A literal number of seconds, or None when it is not one (e.g. a !Ref) and so can't be checked."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def main(path):
    with open(path) as f:
        template = yaml_parse(f.read())
    for resource in template["Resources"].values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource.setdefault("Properties", {})["CodeUri"] = "s3://bucket/code.zip"
    try:
        resources = transform(template, {"Architecture": "arm64"}, NoManagedPolicies())["Resources"]
    except InvalidDocumentException as e:
        causes = "\n  ".join(getattr(c, "message", str(c)) for c in e.causes) or str(e)
        print(f"{path}: the SAM transform failed:\n  {causes}", file=sys.stderr)
        return 2
    problems = []

    def ref_name(value):
        if isinstance(value, dict):
            if "Fn::GetAtt" in value:
                return value["Fn::GetAtt"][0]
            if "Ref" in value:
                return value["Ref"]
        return None

    queues = {k: v for k, v in resources.items() if v["Type"] == "AWS::SQS::Queue"}
    dead_letter_targets = {
        ref_name(q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])
        for q in queues.values()
        if "RedrivePolicy" in q.get("Properties", {})
    }
    for name, queue in queues.items():
        is_dead_letter_queue = name in dead_letter_targets or name.endswith("DLQ")
        if not is_dead_letter_queue and "RedrivePolicy" not in queue.get("Properties", {}):
            problems.append(f"queue {name} has no RedrivePolicy: poison messages would loop forever")

    function_timeouts = {
        k: v["Properties"].get("Timeout", 3) for k, v in resources.items() if v["Type"] == "AWS::Lambda::Function"
    }
    mappings = [(k, v) for k, v in resources.items() if v["Type"] == "AWS::Lambda::EventSourceMapping"]
    if not mappings:
        problems.append("no SQS event-source mappings: nothing consumes the queues")
    for name, mapping in mappings:
        props = mapping["Properties"]
        if props.get("FunctionResponseTypes") != ["ReportBatchItemFailures"]:
            problems.append(f"{name}: FunctionResponseTypes must be [ReportBatchItemFailures], or failures are dropped")
        queue = ref_name(props["EventSourceArn"])
        function = ref_name(props["FunctionName"])
        if queue not in queues:
            problems.append(f"{name}: its event source is not a queue of this template, so its visibility can't be checked")
            continue
        visibility = seconds(queues[queue].get("Properties", {}).get("VisibilityTimeout", 30))
        timeout = seconds(function_timeouts.get(function, 3))
        if visibility is None or timeout is None:
            problems.append(f"{queue} / {function}: VisibilityTimeout and Timeout must be literal numbers to be checked")
        elif visibility < 6 * timeout:
            problems.append(f"{queue}: VisibilityTimeout {visibility} s < 6 × {function} timeout {timeout} s")

    tables = {k: v for k, v in resources.items() if v["Type"] == "AWS::DynamoDB::Table"}
    if not tables:
        problems.append("no DynamoDB table")
    for name, table in tables.items():
        ttl = table["Properties"].get("TimeToLiveSpecification", {})
        if ttl.get("AttributeName") != "expires_at" or ttl.get("Enabled") not in (True, "true"):
            problems.append(f"table {name} must expire items on `expires_at` (TimeToLiveSpecification)")

    # Monitoring: every queue has an alarm (DLQs on depth, sources on the age of the oldest
    # message), every function on errors and on throttles, and the dashboard shows only metrics the
    # functions emit.
    alarms = [v["Properties"] for v in resources.values() if v["Type"] == "AWS::CloudWatch::Alarm"]

    def alarmed(namespace, metric, dimension, resource):
        return any(
            a.get("Namespace") == namespace
            and a.get("MetricName") == metric
            and any(ref_name(d.get("Value")) == resource for d in a.get("Dimensions", []) if d.get("Name") == dimension)
            for a in alarms
        )

    for name in queues:
        metric = "ApproximateNumberOfMessagesVisible" if name in dead_letter_targets else "ApproximateAgeOfOldestMessage"
        if not alarmed("AWS/SQS", metric, "QueueName", name):
            problems.append(f"queue {name} has no {metric} alarm")
    functions = [k for k, v in resources.items() if v["Type"] == "AWS::Lambda::Function"]
    for name in functions:
        for metric in ("Errors", "Throttles"):
            if not alarmed("AWS/Lambda", metric, "FunctionName", name):
                problems.append(f"function {name} has no {metric} alarm")
    metrics_source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../functions/core/src/metrics.rs")
    with open(metrics_source) as f:
        emitted = set(re.findall(r'Self::\w+ => "(\w+)"', f.read()))
    dashboards = [v["Properties"] for v in resources.values() if v["Type"] == "AWS::CloudWatch::Dashboard"]
    if not dashboards:
        problems.append("no CloudWatch dashboard")
    for dashboard in dashboards:
        body = dashboard["DashboardBody"]
        text = body["Fn::Sub"] if isinstance(body, dict) else body
        try:
            widgets = json.loads(re.sub(r"\$\{[^}]+\}", "x", text))["widgets"]
        except (ValueError, KeyError) as e:
            problems.append(f"the dashboard body is not a JSON object with widgets: {e}")
            continue
        for widget in widgets:
            for row in widget["properties"].get("metrics", []):
                if row[0] == "hookline" and row[1] not in emitted:
                    problems.append(f"the dashboard shows hookline metric {row[1]}, which no function emits")

    if problems:
        print("template invariants violated:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print(
        f"template invariants hold: {len(queues)} queues, {len(mappings)} event-source mappings, {len(tables)} table, "
        f"{len(alarms)} alarms, {len(dashboards)} dashboard"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "template.yaml"))
