#!/usr/bin/env python3
"""The platform's AWS cost of one call, from what one call measurably does.

Input: the counts `one_call_is_metered_on_aws_and_priced_by_the_cost_script`
(infra/local/tests/up.rs) writes: requests, bytes and DynamoDB units by AWS operation,
measured through a metering proxy while `hotline up` runs a call and its post-call work
on moto, plus the call's Lambda invocations. Everything else (durations, the stream
node's CPU per call-second, media bytes) is an assumption printed beside its figure.

    infra/cost.py infra/cost/one-call.json --minutes 3

Prices: AWS public on-demand prices, us-east-1, arm64 (Graviton), as published in 2025
(see PRICES); change them there. Twilio's own charges are not the platform's and are
not included.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# USD. Sources: aws.amazon.com/{lambda,api-gateway,dynamodb,sqs,s3,kms,fargate,
# elasticloadbalancing,cloudwatch,ec2}/pricing, us-east-1.
PRICES = {
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_second_arm64": 0.0000133334,
    "http_api_request": 1.00 / 1e6,
    "dynamodb_write_unit": 0.625 / 1e6,  # on-demand write request unit
    "dynamodb_read_unit": 0.125 / 1e6,  # on-demand read request unit
    "sqs_request": 0.40 / 1e6,
    "s3_put_request": 0.005 / 1000,
    "s3_get_request": 0.0004 / 1000,
    "s3_standard_gb_month": 0.023,
    "s3_standard_ia_gb_month": 0.0125,
    "kms_request": 0.03 / 10_000,
    "fargate_vcpu_hour_arm64": 0.03238,
    "fargate_gb_hour_arm64": 0.00356,
    "alb_lcu_hour": 0.008,
    "data_out_gb": 0.09,
    "logs_ingest_gb": 0.50,
}

# Assumptions, each with why.
ASSUMED = {
    # Wall time billed per invocation: the webhooks do a few store reads and writes; the
    # post-call worker mostly waits on the transcription and analysis models.
    "lambda_ms": {"voice": 60, "status": 40, "recording": 60, "postcall_per_minute": 8000},
    "lambda_mb": {"voice": 256, "status": 256, "recording": 256, "postcall": 512},
    # The stream node: CPU per call-second as the load bench's conversation mode measured
    # it (the upper end, README "Benchmark"), calls per vCPU (CALLS_PER_VCPU), and the
    # autoscaling target.
    "node_cpu_us_per_call_second": 1273,
    "node_task_vcpu": 1,
    "node_task_gb": 2,
    "node_calls_per_vcpu": 590,
    "node_target_share": 0.60,
    # Twilio media both ways (≈ 50 JSON frames a second of ~330 bytes) and the AI
    # provider's stream (about the same again), out of AWS to the internet.
    "media_out_bytes_per_second": 2 * 50 * 330,
    "log_bytes_per_call": 20_000,
    # Recordings: 30 days in Standard, then Standard-IA until RecordingRetentionDays.
    "retention_days": 365,
}


def load(path: Path) -> dict:
    counts = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(counts, dict):
        raise SystemExit(f"{path}: expected an object of operations")
    return counts


def requests(counts: dict, prefix: str) -> int:
    return sum(v.get("requests", 0) for k, v in counts.items() if k.startswith(prefix))


# Background writes the meter also sees, which no call causes: the local stream nodes'
# heartbeats (deployed nodes behind the load balancer send none).
NOT_THE_CALLS = ("dynamodb:PutItem:NODES",)


def units(counts: dict, ops: tuple[str, ...]) -> int:
    """Capacity units of `ops`, whatever item kind (`dynamodb:PutItem:CALL`) they name."""
    return sum(
        v.get("capacity_units", 0)
        for k, v in counts.items()
        if k not in NOT_THE_CALLS and ":".join(k.split(":")[:2]) in ops
    )


def price(counts: dict, minutes: float, recorded_seconds: float) -> list[tuple[str, float, str]]:
    a, p = ASSUMED, PRICES
    rows = []
    lam = {k.split(":", 1)[1]: v["requests"] for k, v in counts.items() if k.startswith("lambda:")}
    gb_seconds = 0.0
    for fn, n in lam.items():
        ms = a["lambda_ms"].get(fn)
        if fn == "postcall":
            ms = a["lambda_ms"]["postcall_per_minute"] * minutes
        gb_seconds += n * (ms or 100) / 1000 * a["lambda_mb"].get(fn, 256) / 1024
    invocations = sum(lam.values())
    rows.append(
        (
            "Lambda",
            invocations * p["lambda_request"] + gb_seconds * p["lambda_gb_second_arm64"],
            f"{invocations} invocations (measured), {gb_seconds:.2f} GB-s (assumed durations)",
        )
    )
    webhooks = sum(n for fn, n in lam.items() if fn != "postcall")
    rows.append(("API Gateway", webhooks * p["http_api_request"], f"{webhooks} webhook requests"))
    wru = units(counts, ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                         "dynamodb:TransactWriteItems", "dynamodb:BatchWriteItem"))
    rru = units(counts, ("dynamodb:GetItem", "dynamodb:Query"))
    rows.append(
        (
            "DynamoDB",
            wru * p["dynamodb_write_unit"] + rru * p["dynamodb_read_unit"],
            f"{wru} write units, {rru} read units (measured, upper bound)",
        )
    )
    sqs = requests(counts, "sqs:") + requests(counts, "query:SendMessage")
    rows.append(("SQS", sqs * p["sqs_request"], f"{sqs} requests (measured)"))
    puts = requests(counts, "s3:PUT") + requests(counts, "s3:POST")
    gets = requests(counts, "s3:GET") + requests(counts, "s3:HEAD")
    put_bytes = sum(counts.get(op, {}).get("request_bytes", 0) for op in ("s3:PUT", "s3:POST"))
    # The recording grows with the call; the rest of what is stored does not.
    per_second = put_bytes / max(recorded_seconds, 1)
    stored_gb = per_second * minutes * 60 / 1e9
    months_standard = min(a["retention_days"], 30) / 30
    months_ia = max(a["retention_days"] - 30, 0) / 30
    storage = stored_gb * (
        months_standard * p["s3_standard_gb_month"] + months_ia * p["s3_standard_ia_gb_month"]
    )
    rows.append(
        (
            "S3",
            puts * p["s3_put_request"] + gets * p["s3_get_request"] + storage,
            f"{puts} PUT, {gets} GET (measured), {stored_gb * 1e6:.0f} kB kept "
            f"{a['retention_days']} days",
        )
    )
    kms = requests(counts, "kms:")
    rows.append(("KMS", kms * p["kms_request"], f"{kms} requests (measured)"))
    seconds = minutes * 60
    task_per_minute = (
        a["node_task_vcpu"] * p["fargate_vcpu_hour_arm64"]
        + a["node_task_gb"] * p["fargate_gb_hour_arm64"]
    ) / 60
    calls_per_task = a["node_calls_per_vcpu"] * a["node_task_vcpu"] * a["node_target_share"]
    cpu_share = a["node_cpu_us_per_call_second"] * 1e-6
    rows.append(
        (
            "Fargate (stream node)",
            task_per_minute * minutes / calls_per_task,
            f"1/{calls_per_task:.0f} of a task per call (uses {cpu_share * 100:.2f} % of a vCPU)",
        )
    )
    media_gb = a["media_out_bytes_per_second"] * seconds / 1e9
    lcu_hours = media_gb  # 1 GB processed an hour is one LCU-hour
    rows.append(("ALB", lcu_hours * p["alb_lcu_hour"], f"{media_gb * 1e3:.1f} MB through it"))
    rows.append(("Data transfer out", media_gb * p["data_out_gb"], f"{media_gb * 1e3:.1f} MB"))
    rows.append(
        (
            "CloudWatch Logs",
            a["log_bytes_per_call"] / 1e9 * p["logs_ingest_gb"],
            f"{a['log_bytes_per_call'] / 1e3:.0f} kB of logs",
        )
    )
    return rows


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("counts", type=Path)
    ap.add_argument("--minutes", type=float, default=3.0, help="length of the call priced")
    ap.add_argument(
        "--recorded-seconds",
        type=float,
        default=6.0,
        help="length of the recording the counts were measured with",
    )
    args = ap.parse_args(argv)
    if args.minutes <= 0:
        ap.error("--minutes must be positive")
    rows = price(load(args.counts), args.minutes, args.recorded_seconds)
    total = sum(cost for _, cost, _ in rows)
    print(f"AWS cost of one {args.minutes:g}-minute call (us-east-1, arm64, on-demand)")
    for name, cost, why in rows:
        print(f"  {name:<22} ${cost:.6f}   {why}")
    print(f"  {'total':<22} ${total:.6f}")
    print(f"  ${total / args.minutes:.6f} per call-minute")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
