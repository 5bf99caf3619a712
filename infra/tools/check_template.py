#!/usr/bin/env python3
"""Checks the dispatcher's invariants on the SAM template after the SAM transform, offline.

Linters accept a misspelt FunctionResponseTypes, a queue without a redrive policy or a visibility
timeout shorter than its consumer's timeout; any of those silently loses or duplicates messages.
Usage: AWS_DEFAULT_REGION=us-east-1 python check_template.py template.yaml
"""
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicies:
    """The transform asks IAM for managed policy ARNs; offline there are none to look up."""

    def load(self):
        return {}


def main(path):
    template = yaml_parse(open(path).read())
    for resource in template["Resources"].values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource.setdefault("Properties", {})["CodeUri"] = "s3://bucket/code.zip"
    resources = transform(template, {"Architecture": "arm64"}, NoManagedPolicies())["Resources"]
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
        if name not in dead_letter_targets and "RedrivePolicy" not in queue.get("Properties", {}):
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
        visibility = queues.get(queue, {}).get("Properties", {}).get("VisibilityTimeout", 30)
        timeout = function_timeouts.get(function, 3)
        if visibility < 6 * timeout:
            problems.append(f"{queue}: VisibilityTimeout {visibility} s < 6 × {function} timeout {timeout} s")

    tables = [v for v in resources.values() if v["Type"] == "AWS::DynamoDB::Table"]
    for table in tables:
        ttl = table["Properties"].get("TimeToLiveSpecification", {})
        if ttl.get("AttributeName") != "expires_at" or not ttl.get("Enabled"):
            problems.append("the table must expire items on `expires_at` (TTL)")

    if problems:
        print("template invariants violated:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print(f"template invariants hold: {len(queues)} queues, {len(mappings)} event-source mappings, {len(tables)} table")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "template.yaml"))
