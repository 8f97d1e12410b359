"""Programs (Smile accounts) served by one sandbox process.

Program 1 is today's single program (``--customers``, ``--seed``, ``--account-id``, ``--api-key``),
generated at start-up. Programs 2..N (``--programs N``) are sized from ``--size-distribution``,
deterministically per ``--seed``, and generated on first access (a token or a control call naming
them), so 10,000 programs start in well under a second. Program n owns the customer ids
``[FIRST_ID + (n-1)*ID_SPAN, FIRST_ID + n*ID_SPAN)`` (ids are global in Smile) and the VIP tier ids from
``FIRST_TIER_ID + (n-1)*TIER_SPAN``; its account id is ``--account-id + n - 1`` and its API key
``api_fleet_<n>``.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
import threading
from dataclasses import dataclass, field

from .config import SandboxConfig, SizeSpec, parse_sizes
from .data import FIRST_ID, FIRST_TIER_ID
from .render import TierIndex

ID_SPAN = 10**9
TIER_SPAN = 100_000
FLEET_KEY_RE = re.compile(r"api_fleet_([1-9]\d{0,6})")


def program_seed(seed: int, n: int) -> int:
    """Program 1 keeps --seed (its data is unchanged); program n >= 2 gets a seed derived from both."""
    if n == 1:
        return seed
    return int.from_bytes(hashlib.sha256(f"smile-sandbox-program:{seed}:{n}".encode()).digest()[:6], "big")


def program_size(spec: SizeSpec, seed: int, n: int) -> int:
    """The generated size of program n >= 2 (a pure function of the spec, --seed and n)."""
    if spec.kind == "fixed":
        return int(spec.median)
    value = random.Random(f"smile-sandbox-size:{seed}:{n}").lognormvariate(math.log(spec.median), spec.sigma)
    return min(spec.max, round(value))


@dataclass(eq=False)
class Program:
    """One Smile account: its identity (fixed) and its loaded state (tiers, corruptions, id counters)."""

    n: int
    account_id: int
    account_name: str
    customers: int  # as generated (creates and deletes through the control API do not change it)
    seed: int
    kind: str  # the VIP program's kind: calendar | lifetime (the --program option)
    tiers_count: int
    ready: bool = False
    anchor_ms: int = 0
    tiers: list[dict] = field(default_factory=list)
    index: TierIndex | None = None
    max_customer_id: int = 0
    max_tier_id: int = 0
    corrupt: dict[int, dict] = field(default_factory=dict)  # customer id -> {field: JSON text | None}
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def id_lo(self) -> int:
        return FIRST_ID + (self.n - 1) * ID_SPAN

    @property
    def id_hi(self) -> int:
        return self.id_lo + ID_SPAN

    @property
    def tier_base(self) -> int:
        return FIRST_TIER_ID + (self.n - 1) * TIER_SPAN

    @property
    def api_key(self) -> str:
        return f"api_fleet_{self.n}"

    def owns(self, customer_id: int) -> bool:
        return self.id_lo <= customer_id < self.id_hi

    def public(self, stored: bool = False) -> dict:
        return {
            "id": self.n,
            "account_id": self.account_id,
            "account_name": self.account_name,
            "api_key": self.api_key,
            "customers": self.customers,
            "generated": self.ready or stored,
        }


class Fleet:
    """Every program of the process; ``get(n)`` generates program n on first use (once, under its lock;
    other programs are served meanwhile)."""

    def __init__(self, cfg: SandboxConfig, store):
        self.cfg = cfg
        self.store = store
        self.count = cfg.programs
        self.sizes = parse_sizes(cfg.size_distribution)
        self._programs: dict[int, Program] = {}
        self._lock = threading.Lock()
        self.stored: set[int] = set()  # programs the --db file already held at start-up

    @staticmethod
    def key(cfg: SandboxConfig) -> str:
        """What the --db file must match for its programs 2..N to be reused."""
        return f"{cfg.programs}|{cfg.size_distribution}|{cfg.seed}|{cfg.program}|{cfg.tiers}"

    def exists(self, n: int) -> bool:
        return 1 <= n <= self.count

    def describe(self, n: int) -> Program:
        """Program n without generating it (``ready`` tells whether it was)."""
        if not self.exists(n):
            raise LookupError(f"No program {n}: this sandbox serves programs 1 to {self.count}.")
        with self._lock:
            prog = self._programs.get(n)
            if prog is None:
                prog = self._programs[n] = self._new(n)
        return prog

    def _new(self, n: int) -> Program:
        cfg = self.cfg
        if n == 1:
            return Program(
                1, cfg.account_id, cfg.account_name, cfg.customers, cfg.seed, cfg.program, cfg.tiers
            )
        return Program(
            n,
            cfg.account_id + n - 1,
            f"{cfg.account_name} {n}",
            program_size(self.sizes, cfg.seed, n),
            program_seed(cfg.seed, n),
            cfg.program,
            cfg.tiers,
        )

    def get(self, n: int) -> Program:
        """Program n, generated (or loaded from --db) if this is its first use."""
        prog = self.describe(n)
        if not prog.ready:
            with prog.lock:
                if not prog.ready:
                    self.store.materialize(prog)
                    prog.ready = True
        return prog

    def ready(self) -> list[Program]:
        with self._lock:
            return [p for p in self._programs.values() if p.ready]

    def list(self) -> list[dict]:
        return [self.describe(n).public(n in self.stored) for n in range(1, self.count + 1)]

    def by_api_key(self, token: str) -> int | None:
        match = FLEET_KEY_RE.fullmatch(token)
        if match and self.exists(int(match.group(1))):
            return int(match.group(1))
        return None
