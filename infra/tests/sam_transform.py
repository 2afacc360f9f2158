#!/usr/bin/env python3
"""Expands infra/template.yaml the way CloudFormation's AWS::Serverless transform will, offline
(aws-sam-translator, the library behind the transform), and writes the plain CloudFormation
so cfn-lint can check what will really be created.

    python3 infra/tests/sam_transform.py infra/template.yaml out.json

Local CodeUri paths become placeholder S3 locations, as `sam deploy` uploads them first.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
from consistency import load_template  # noqa: E402


class NoManagedPolicies:
    """The template names no managed policies through SAM; looking one up would need AWS."""

    def load(self) -> dict[str, str]:
        raise RuntimeError("a SAM Policies entry names a managed policy; use an explicit role")


def main() -> int:
    src, out = Path(sys.argv[1]), Path(sys.argv[2])
    template = load_template(src)
    for resource in template["Resources"].values():
        props = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::Serverless::Function" and isinstance(
            props.get("CodeUri"), str
        ):
            props["CodeUri"] = "s3://packaged-by-sam-deploy/" + props["CodeUri"].lstrip("./")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    try:
        result = transform(template, {}, NoManagedPolicies())
    except InvalidDocumentException as e:
        for cause in e.causes:
            print(f"{src}: SAM transform: {cause.message}", file=sys.stderr)
        return 1
    out.write_text(json.dumps(result, indent=1), encoding="utf-8")
    kinds = sorted({r["Type"] for r in result["Resources"].values()})
    print(f"{src}: SAM transform gives {len(result['Resources'])} resources ({len(kinds)} types)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
