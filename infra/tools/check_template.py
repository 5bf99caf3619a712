#!/usr/bin/env python3
"""Checks the dispatcher's invariants on the SAM template after the SAM transform, offline.

Linters accept a misspelt FunctionResponseTypes, a queue without a redrive policy or a visibility
timeout shorter than its consumer's timeout; any of those silently loses or duplicates messages.
Usage: .venv-tools/bin/python infra/tools/check_template.py [template.yaml]   (exit 1 on a violation)
"""
import os
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

    if problems:
        print("template invariants violated:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print(f"template invariants hold: {len(queues)} queues, {len(mappings)} event-source mappings, {len(tables)} table")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "template.yaml"))
