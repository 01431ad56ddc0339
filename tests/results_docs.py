"""Small results.json documents that pass results.schema.json, for tests of the readers (diff, matrix)."""

from __future__ import annotations

from typing import Any

SHA = "c" * 64


def results_doc(verdicts: dict[str, str], levels: dict[str, str] | None = None) -> dict[str, Any]:
    """A schema-valid results document whose requirements have these verdicts (MUST unless ``levels``)."""
    levels = levels or {}
    return {
        "format": 1,
        "suite": {"name": "twentythree-replace-token-conformance", "version": "0.1.0", "python": "3.11"},
        "target": {
            "base_url": "http://127.0.0.1:1",
            "config": "target.toml",
            "embedded": False,
            "bounds_policy": "either",
            "destructive": False,
            "credential_levels": ["write"],
        },
        "run": {
            "profile": "core",
            "seed": 1,
            "settings_profile": "default",
            "hypothesis": {"max_examples": 1, "deadline": None, "database": None},
            "include_slow": False,
            "started_at": "2026-01-01T00:00:00Z",
            "duration_seconds": 1.0,
            "request_budget": 100,
            "max_rps": 0,
            "timeout_seconds": 10,
            "max_body_bytes": 1000,
            "run_deadline_seconds": 900,
            "requests_sent": 0,
            "retries": 0,
            "transport_errors": 0,
            "timeouts": 0,
            "oversize_responses": 0,
            "clock_skew_seconds": None,
            "preflight_error": None,
        },
        "integrity": {"catalog_sha256": SHA, "schemas_sha256": {}},
        "summary": {
            "verdict": "CONFORMANT",
            "exit_code": 0,
            "counts": {"MUST": {}, "SHOULD": {}},
            "must_not_passed": [],
            "should_warnings": [],
        },
        "requirements": [
            {
                "id": rid,
                "group": rid.split("-")[0],
                "level": levels.get(rid, "MUST"),
                "profile": "core",
                "spec": "",
                "summary": "",
                "position": "",
                "verdict": v,
                "tests": [],
                "warnings": [],
            }
            for rid, v in verdicts.items()
        ],
        "tests": [],
    }
