"""Decide what to run: version states, drift decisions, up and down plans (no database)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from ..errors import MigrationError
from .bookkeeping import Progress
from .errors import DriftBlocked, ForgetRefused, OutOfOrder, UnfilledMigration, UnknownVersion
from .files import Migration, SchemaFolder

# states a version can be in; "interrupted": a transaction:false part stopped halfway
APPLIED_STATES = ("applied", "drifted", "missing")
PENDING_STATES = ("pending", "out-of-order", "interrupted")


@dataclass(frozen=True)
class VersionStatus:
    """One row of ``status``: a file, an applied version, or both."""

    version: str
    name: str
    state: str  # applied | pending | drifted | missing | out-of-order | unfilled | interrupted
    applied_at: datetime | None = None
    execution_ms: float | None = None
    checksum: str | None = None

    def as_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["applied_at"] = self.applied_at.isoformat() if self.applied_at else None
        return d


def statuses(
    folder: SchemaFolder,
    applied: dict[str, dict[str, Any]],
    progress: dict[tuple[str, str], dict[int, Progress]],
) -> list[VersionStatus]:
    """Every version known to the files or the database, in numeric order, with its state."""
    files = folder.by_version()
    top = max((int(v) for v in applied), default=-1)
    rows: list[VersionStatus] = []
    for version in sorted(set(files) | set(applied) | set(folder.unfilled), key=int):
        mig, row = files.get(version), applied.get(version)
        if row is None:
            if mig is None:
                name = folder.unfilled[version].stem.partition("_")[2]
                rows.append(VersionStatus(version, name, "unfilled"))
                continue
            if (version, "up") in progress:
                state = "interrupted"
            else:
                state = "out-of-order" if int(version) < top else "pending"
            rows.append(VersionStatus(version, mig.name, state, checksum=mig.checksum))
            continue
        if (version, "down") in progress:
            state = "interrupted"
        elif mig is None:
            state = "missing"
        elif mig.checksum != row["checksum"]:
            state = "drifted"
        else:
            state = "applied"
        rows.append(
            VersionStatus(
                version, row["name"], state, row["applied_at"], row["execution_ms"], row["checksum"]
            )
        )
    return rows


def _listed(states: list[VersionStatus]) -> str:
    return ", ".join(f"{s.version} ({s.state})" for s in states)


def drift_actions(
    states: list[VersionStatus], *, accept_drift: bool, forget: tuple[str, ...], where: str
) -> list[tuple[VersionStatus, str]]:
    """What to record before running: ``(status, "accept" | "forget")`` pairs.

    Drifted files are accepted only with ``accept_drift``; an applied version whose file
    is missing is forgotten only when named in ``forget``, never by accepting drift.
    """
    by_number = {int(s.version): s for s in states}
    forgotten: list[VersionStatus] = []
    for wanted in forget:
        s = by_number.get(int(wanted)) if wanted.isdigit() else None
        if s is None or s.applied_at is None:
            raise ForgetRefused(f"cannot forget version {wanted!r}: it is not applied")
        if s.state != "missing":
            raise ForgetRefused(
                f"cannot forget version {s.version}: its file is in {where}; roll it back "
                "instead, or delete the file first"
            )
        forgotten.append(s)
    drifted = [s for s in states if s.state == "drifted"]
    missing = [s for s in states if s.state == "missing" and s not in forgotten]
    if missing or (drifted and not accept_drift):
        message = f"applied migrations no longer match the files in {where}: " + _listed(
            drifted + missing
        )
        if missing:
            message += (
                "; an applied version whose file is missing is never forgotten by accepting "
                "drift: restore its file, or forget that version by name"
            )
        else:
            message += "; restore the files, or accept the drift (records their checksums)"
        raise DriftBlocked(
            message, drifted=[s.version for s in drifted], missing=[s.version for s in missing]
        )
    return [(s, "accept") for s in drifted] + [(s, "forget") for s in forgotten]


def check_readonly(states: list[VersionStatus], *, accept_drift: bool, where: str) -> None:
    """The drift check of a dry run: refuse what a real run would refuse."""
    drifted = [s for s in states if s.state == "drifted"]
    missing = [s for s in states if s.state == "missing"]
    if missing or (drifted and not accept_drift):
        raise DriftBlocked(
            f"applied migrations no longer match the files in {where}: "
            + _listed(drifted + missing),
            drifted=[s.version for s in drifted],
            missing=[s.version for s in missing],
        )


def version_of(target: str, versions: list[str], *, option: str = "target") -> str | None:
    """``target`` as one of ``versions`` ("2" finds "0002"), or None."""
    if not target.isdigit():
        raise UnknownVersion(f"{target!r}: a version is a number such as 0003", option=option)
    return next((v for v in versions if int(v) == int(target)), None)


def plan_up(
    states: list[VersionStatus],
    folder: SchemaFolder,
    *,
    target: str | None = None,
    allow_out_of_order: bool = False,
) -> list[Migration]:
    """The files to apply, oldest first; an interrupted file resumes."""
    files = folder.by_version()
    limit: int | None = None
    if target is not None:
        found = version_of(target, [*files, *folder.unfilled])
        if found is None:
            raise UnknownVersion(f"{target!r}: no migration file has that version", option="target")
        limit = int(found)
    rolling_back = [s for s in states if s.state == "interrupted" and s.applied_at is not None]
    if rolling_back:
        raise MigrationError(
            f"{_listed(rolling_back)} stopped halfway through its down part: roll it back "
            "again (down resumes where it stopped) before applying anything"
        )
    wanted = [
        s
        for s in states
        if s.state in (*PENDING_STATES, "unfilled") and (limit is None or int(s.version) <= limit)
    ]
    unfilled = [s for s in wanted if s.state == "unfilled"]
    if unfilled:
        paths = ", ".join(str(folder.unfilled[s.version]) for s in unfilled)
        raise UnfilledMigration(
            f"{paths}: the up part has no SQL yet; fill it in or delete the file "
            "(the versions before it can be applied on their own)"
        )
    ooo = [s for s in wanted if s.state == "out-of-order"]
    if ooo and not allow_out_of_order:
        raise OutOfOrder(
            "pending migrations older than the newest applied one: "
            + ", ".join(f"{s.version}_{s.name}" for s in ooo)
            + "; renumber them, or allow out-of-order migrations"
        )
    return [files[s.version] for s in wanted]


def plan_down(
    states: list[VersionStatus],
    folder: SchemaFolder,
    *,
    steps: int | None = None,
    target: str | None = None,
) -> list[Migration]:
    """The applied files to roll back, newest first."""
    files = folder.by_version()
    applied = [s.version for s in reversed(states) if s.applied_at is not None]
    if target is not None:
        found = "0" if target.isdigit() and int(target) == 0 else None
        found = found or version_of(target, applied)
        if found is None:
            raise UnknownVersion(f"{target!r}: that version is not applied", option="target")
        chosen = [v for v in applied if int(v) > int(found)]
    else:
        n = 1 if steps is None else steps
        if n < 0:
            raise UnknownVersion(f"steps must be 0 or more, got {n}", option="steps")
        chosen = applied[:n]
    plan: list[Migration] = []
    for version in chosen:
        mig = files.get(version)
        if mig is None:
            raise MigrationError(
                f"cannot roll back {version}: its file is missing from {folder.directory}"
            )
        if mig.down is None:
            raise MigrationError(
                f"cannot roll back {mig.path.name}: it has no '-- migrate:down' part"
            )
        plan.append(mig)
    return plan
