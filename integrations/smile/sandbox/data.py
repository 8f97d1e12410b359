"""Deterministic fake Smile data: VIP tiers and customers, a pure function of (seed, options, anchor).

``anchor_ms`` is "now" for the generated data (UTC midnight of the generation day): every generated
timestamp is before it, so anything changed later through the control API is strictly newer.
Rows come out in ascending id order, ready for ``executemany``.
"""

from __future__ import annotations

import base64
import json
import multiprocessing
import os
import random
import threading
import time
import unicodedata
from collections.abc import Iterator

from .render import DAY_MS, TierIndex, TierInfo, iso_ms, jstr, year_end

YEAR_MS = 365 * DAY_MS
HISTORY_YEARS = 6

TIER_DEFS = {
    4: [("Bronze", 100), ("Silver", 500), ("Gold", 1000), ("Platinum", 2500)],
    3: [("Bronze", 200), ("Silver", 750), ("Gold", 2000)],
}
PERKS = {
    "Bronze": ["Birthday reward"],
    "Silver": ["Birthday reward", "Free shipping on orders over $50"],
    "Gold": ["Birthday reward", "Free shipping", "Early access to new product releases"],
    "Platinum": [
        "Birthday reward",
        "Free shipping",
        "Early access to new product releases",
        "Dedicated support line",
    ],
}
FIRST = [
    "Jane",
    "John",
    "Maria",
    "Liam",
    "Olivia",
    "Noah",
    "Emma",
    "Lucas",
    "Ava",
    "Mateo",
    "Sofia",
    "Ethan",
    "Mia",
    "Aarav",
    "Chloe",
    "Yuki",
    "Fatima",
    "Omar",
    "Zoë",
    "José",
    "Ngozi",
    "Sean",
    "Ingrid",
    "Pierre",
    "Anaïs",
    "Wei",
    "Priya",
    "Kai",
    "Freya",
    "Björn",
    "Amara",
    "Diego",
    "Hannah",
    "Isaac",
    "Leila",
    "Mohammed",
    "Nora",
    "Oscar",
    "Ruth",
    "Tomás",
]
LAST = [
    "Doe",
    "Smith",
    "García",
    "Müller",
    "O'Brien",
    "Nguyen",
    "Kowalski",
    "Rossi",
    "Johnson",
    "Brown",
    "Tanaka",
    "Kim",
    "Patel",
    "Silva",
    "Dubois",
    "Andersson",
    "Okafor",
    "Cohen",
    "Novak",
    "Jensen",
    "Martin",
    "Lee",
    "Walker",
    "Young",
    "Hernández",
    "Ivanova",
    "López",
    "Schmidt",
    "Wong",
    "Haddad",
]
DOMAINS = ["example.com", "example.org", "example.net", "mail.example.com", "shop.example"]
FIRST_ID = 300_000_000
FIRST_TIER_ID = 426_715_000
CHUNK = 50_000  # customers per independently seeded chunk (changing it changes the data)
PARALLEL_MIN = 200_000  # generate in two worker processes from this many customers


def _slug(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name)
    return "".join(ch for ch in plain if ch.isascii() and ch.isalnum()).lower()


FIRST_J = [jstr(n) for n in FIRST]
LAST_J = [jstr(n) for n in LAST]
FIRST_S = [_slug(n) for n in FIRST]
LAST_S = [_slug(n) for n in LAST]


def anchor_today() -> int:
    """UTC midnight of today, in epoch ms."""
    return int(time.time() // 86_400) * DAY_MS


def referral_url(cid: int, seed: int) -> str:
    n = (cid * 2_718_281_828_459 + seed * 97_531) % (1 << 42)
    return "http://i.refs.cc/" + base64.b64encode(n.to_bytes(6, "big"), b"Zq").decode()[1:]


def period_end(program: str, anchor_ms: int) -> str | None:
    if program != "calendar":
        return None
    return year_end(int(iso_ms(anchor_ms)[:4]))


def make_tiers(seed: int, count: int, base: int = FIRST_TIER_ID) -> list[dict]:
    rng = random.Random(f"tiers-{seed}")
    tid = base + rng.randrange(1000)
    tiers = []
    for n, (name, milestone) in enumerate(TIER_DEFS[count], start=1):
        tid += rng.randint(1, 9)
        tiers.append(
            {
                "id": tid,
                "name": name,
                "milestone": float(milestone),
                "image_url": f"https://platform.smile.io/v1/images/vip_tiers/vip-tier-{n}.svg",
                "perks": json.dumps([{"name": p} for p in PERKS[name]]),
                "entry_rewards": json.dumps(
                    [
                        {
                            "id": 924_565_000 + tid % 1000,
                            "name": f"{name} welcome discount",
                            "description": f"$ {5 * n} off your next order",
                            "image_url": "https://platform-images.smilecdn.co/3755938.png",
                            "created_at": "2024-04-04T15:10:42.030Z",
                            "updated_at": "2024-04-04T15:10:42.030Z",
                        }
                    ]
                ),
            }
        )
    return tiers


def tier_index(tiers: list[dict], program: str, anchor_ms: int) -> TierIndex:
    infos = [TierInfo(t["id"], t["name"], t["milestone"], t["image_url"]) for t in tiers]
    return TierIndex(infos, program, period_end(program, anchor_ms))


def generate_customers(
    n: int,
    seed: int,
    program: str,
    tiers: list[dict],
    anchor_ms: int,
    parallel_min: int = PARALLEL_MIN,
    chunk: int = CHUNK,
    id_base: int = FIRST_ID,
    owner: int = 1,
) -> Iterator[list[tuple]]:
    """Yield chunks of rows in ascending id order: (id, email, email_lc, state, points_balance,
    vip_tier_id, vip_tier_expires_at, progress_value, created_ms, updated_ms, base, vip, owner),
    ``owner`` being the number of the program (Smile account) the customers belong to.

    Every chunk of ``chunk`` customers is a pure function of (seed, chunk number), so big programs are
    generated by two forked worker processes with byte-identical results. Forking only happens while
    the process is single-threaded (at startup); otherwise chunks are generated in-process."""
    jobs = [(k, chunk, n, seed, program, tiers, anchor_ms, id_base, owner) for k in range(-(-n // chunk))]
    workers = min(2, os.cpu_count() or 1)
    if n < parallel_min or workers < 2 or threading.active_count() > 1:
        yield from map(generate_chunk, jobs)
        return
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        yield from pool.imap(generate_chunk, jobs)


def generate_chunk(job: tuple) -> list[tuple]:
    k, chunk, n, seed, program, tiers, anchor_ms, id_base, owner = job
    rng = random.Random(seed * 1_000_003 + k)
    r = rng.random
    expo = rng.expovariate
    index = tier_index(tiers, program, anchor_ms)
    tier_for, vip_status = index.tier_for, index.vip_status
    calendar = program == "calendar"
    year = int(iso_ms(anchor_ms)[:4])
    this_end, next_end = year_end(year), year_end(year + 1)
    start = anchor_ms - HISTORY_YEARS * YEAR_MS
    step = (anchor_ms - DAY_MS - start) / max(n, 1)
    nf, nl, nd = len(FIRST), len(LAST), len(DOMAINS)
    ring: list[str] = []
    first_id = id_base + random.Random(seed).randrange(1000)
    prev_created = 0
    rows: list[tuple] = []
    for i in range(k * chunk, min(n, (k + 1) * chunk)):
        cid = first_id + 2 * i + (r() < 0.5)  # ascending, gaps of 1-3 (ids are global in Smile)
        created = max(int(start + (i + r()) * step), prev_created + 1)
        prev_created = created
        x = r()
        state = "member" if x < 0.70 else ("candidate" if x < 0.95 else "disabled")
        fi, li = int(r() * nf), int(r() * nl)
        first = None if r() < 0.05 else FIRST_J[fi]
        last = None if r() < 0.06 else LAST_J[li]
        e = r()
        if e < 0.01:
            email = None
        elif e < 0.02:
            email = ""
        elif e < 0.03 and ring:
            email = ring[int(r() * len(ring))]
            if r() < 0.4:
                email = email.upper() if r() < 0.5 else email.capitalize()
        else:
            local = f"{FIRST_S[fi]}.{LAST_S[li]}{i + 1}"
            domain = DOMAINS[int(r() * nd)]
            if r() < 0.12:
                local = f"{FIRST_S[fi].capitalize()}.{LAST_S[li].capitalize()}{i + 1}"
                domain = domain.capitalize()
            email = f"{local}@{domain}"
            if len(ring) < 512:
                ring.append(email)
            else:
                ring[i % 512] = email
        if r() < 0.4:
            dob = "null"
        else:
            y = 1004 if r() < 0.15 else 1950 + int(r() * 56)
            dob = f'"{y:04d}-{1 + int(r() * 12):02d}-{1 + int(r() * 28):02d}"'
        # VIP: who may hold a tier, and how much progress this period (or lifetime).
        if state == "member":
            eligible = True
            points = int(expo(1 / 350))
        elif state == "candidate":
            eligible = r() < 0.03
            points = 0 if r() < 0.85 else int(r() * 200)
        else:
            eligible = r() < 0.25
            points = int(r() * 1000)
        tier_id = expires = None
        progress = 0.0
        if eligible:
            if calendar:
                progress = round(expo(1 / 450), 2)
                prev = expo(1 / 500) if r() < 0.6 else 0.0
                now_t, prev_t = tier_for(progress), tier_for(prev)
                tier = (
                    now_t if (prev_t is None or (now_t and now_t.milestone >= prev_t.milestone)) else prev_t
                )
                if tier is not None:
                    expires = next_end if tier is now_t else this_end
            else:
                progress = round(expo(1 / 700), 2)
                tier = tier_for(progress)
            if tier is not None:
                tier_id = tier.id
        u = r()
        if u < 0.35:
            updated = created
        elif u < 0.42:
            updated = max(created, anchor_ms - 1 - int(r() * 30 * DAY_MS))
        else:
            updated = created + int((anchor_ms - 1 - created) * r())
        email_j = "null" if email is None else f'"{email}"'
        tid_j = "null" if tier_id is None else str(tier_id)
        base = (
            f'{{"id":{cid},"first_name":{first or "null"},"last_name":{last or "null"},"email":{email_j},'
            f'"state":"{state}","date_of_birth":{dob},"points_balance":{points},'
            f'"referral_url":"{referral_url(cid, seed)}","vip_tier_id":{tid_j},'
            f'"created_at":"{iso_ms(created)}","updated_at":"{iso_ms(updated)}"'
        )
        rows.append(
            (
                cid,
                email,
                None if email is None else email.lower(),
                state,
                points,
                tier_id,
                expires,
                progress,
                created,
                updated,
                base.encode(),
                vip_status(tier_id, expires, progress).encode(),
                owner,
            )
        )
    return rows
