"""The shipped systemd units: systemd's own verifier, its security score, and what we promise.

`systemd-analyze verify` checks every ExecStart= binary exists, so the units are copied to a
temporary directory with /opt/gitgate/venv/bin/gitgate replaced by the installed `gitgate`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNIT_DIR = ROOT / "systemd"
UNITS = ["gitgate.service", "gitgate.socket", "gitgate-purge.service", "gitgate-purge.timer"]
SERVICES = ["gitgate.service", "gitgate-purge.service"]
INSTALLED_PATH = "/opt/gitgate/venv/bin/gitgate"
HARDENING = {
    "User": "gitgate",
    "NoNewPrivileges": "yes",
    "CapabilityBoundingSet": "",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
    "RestrictNamespaces": "yes",
    "RestrictRealtime": "yes",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "SystemCallArchitectures": "native",
    "UMask": "0077",
    "StateDirectory": "gitgate",
    "Environment": "GITGATE_DATA_DIR=%S/gitgate",
    "EnvironmentFile": "-/etc/gitgate/gitgate.env",
}


def directives(unit: str) -> dict[str, list[str]]:
    """Every `Key=value` of a unit (all sections), repeated keys kept in order."""
    found: dict[str, list[str]] = {}
    for line in (UNIT_DIR / unit).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (no systemd on this machine)")
    return tool


def installed_gitgate() -> str:
    candidates = [shutil.which("gitgate"), str(Path(sys.prefix) / "bin" / "gitgate")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.skip("the gitgate command is not installed yet (pip install -e .)")


def copy_units(tmp_path: Path, gitgate: str) -> Path:
    for unit in UNITS:
        text = (UNIT_DIR / unit).read_text().replace(INSTALLED_PATH, gitgate)
        (tmp_path / unit).write_text(text)
    return tmp_path


def test_systemd_analyze_verify_is_clean(tmp_path: Path) -> None:
    tool = systemd_analyze()
    units = copy_units(tmp_path, installed_gitgate())
    proc = subprocess.run(
        [tool, "verify", *(str(units / u) for u in UNITS)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    ours = [
        line
        for line in (proc.stdout + proc.stderr).splitlines()
        if any(u.split(".")[0] in line for u in UNITS)
    ]
    assert ours == []
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_security_exposure_stays_low(tmp_path: Path, service: str) -> None:
    tool = systemd_analyze()
    units = copy_units(tmp_path, INSTALLED_PATH)  # the offline review does not exec anything
    probe = subprocess.run([tool, "security", "--help"], capture_output=True, text=True)
    if "--offline" not in probe.stdout:
        pytest.skip("this systemd-analyze cannot review unit files offline (systemd < 250)")
    # --threshold is on systemd's 0..100 scale: 19 keeps the exposure in its "OK" band (< 2.0).
    proc = subprocess.run(
        [tool, "security", "--offline=yes", "--threshold=19", str(units / service)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout[-2000:]


@pytest.mark.parametrize("service", SERVICES)
def test_services_carry_every_hardening_directive(service: str) -> None:
    found = directives(service)
    for key, value in HARDENING.items():
        assert value in found.get(key, []), f"{service}: {key}={value} missing"
    assert found["SystemCallFilter"][0] == "@system-service"
    # Writable paths: the state directory only (StateDirectory= adds it under ProtectSystem=strict).
    assert set(found.get("ReadWritePaths", [])) <= {"%S/gitgate", "/var/lib/gitgate"}
    assert "DynamicUser" not in found  # a fixed user: see systemd/gitgate.sysusers


def test_gate_service_runs_serve_under_systemd_supervision() -> None:
    found = directives("gitgate.service")
    assert found["ExecStart"] == [f"{INSTALLED_PATH} serve --config /etc/gitgate/gitgate.toml"]
    assert found["Type"] == ["notify"]  # gunicorn 27's arbiter sends READY=1
    assert found["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert found["KillMode"] == ["mixed"]
    assert found["TimeoutStopSec"] == ["15min"]
    assert found["WantedBy"] == ["multi-user.target"]


def test_purge_runs_daily_from_a_timer() -> None:
    service = directives("gitgate-purge.service")
    assert service["Type"] == ["oneshot"]
    assert service["ExecStart"] == [f"{INSTALLED_PATH} purge --config /etc/gitgate/gitgate.toml"]
    timer = directives("gitgate-purge.timer")
    assert timer["OnCalendar"] == ["daily"]
    assert timer["Persistent"] == ["true"]
    assert timer["RandomizedDelaySec"] == ["1h"]
    assert timer["WantedBy"] == ["timers.target"]


def test_socket_listens_on_the_gate_port_on_loopback_only() -> None:
    assert directives("gitgate.socket")["ListenStream"] == ["127.0.0.1:8418"]


def test_sysusers_creates_the_unit_user_with_the_state_dir_as_home() -> None:
    lines = [
        line.split()
        for line in (UNIT_DIR / "gitgate.sysusers").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[0][:3] == ["u", "gitgate", "-"]
    assert "/var/lib/gitgate" in lines[0]


def test_deploy_doc_names_every_unit_and_command() -> None:
    doc = (ROOT / "docs" / "deploy.md").read_text()
    for name in [*UNITS, "gitgate.sysusers", "gitgate.env", "journalctl -u gitgate"]:
        assert name in doc, f"docs/deploy.md does not mention {name}"
    assert "systemctl enable --now gitgate.service gitgate-purge.timer" in doc
