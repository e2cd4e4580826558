"""A realistic district Outcomes CSV, streamed to disk, with the figures a check needs to verify an import.

Shape (deterministic for a given --rows/--seed): about 8% group rows nested subject (depth 1) ->
grade band (2) -> strand (3) -> half the strands split into two clusters (4); 92% outcome rows, each
in a leaf group (a depth-3 strand or a depth-4 cluster), written right after that leaf's row so every
parent is on an earlier row. 5% of the outcomes are also linked into an earlier leaf (two
space-separated parent_guids). Each outcome has 4 rating tiers, mastery_points 3, a ~200-character
description (about a third with commas, so quoted; a few with doubled quotes) and a mix of
calculation methods.

`--changed-fraction 0.1` writes the same file with ~10% of the outcome rows changed (a title, a
description or the rating tiers; the count of each is returned): the base content draws from one
random stream and the changes from another, so the two files differ only in those rows.

Run: `.venv/bin/python scripts/generate_outcomes.py out.csv --rows 100000 [--seed 1] [--changed-fraction 0.1]
[--guid-prefix district]`
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

GROUP_SHARE = 0.08
MULTI_LINK_SHARE = 0.05
GRADES_PER_SUBJECT = 4
STRANDS_PER_GRADE = 6  # odd-numbered strands are split into two depth-4 clusters
MIN_ROWS = 20

HEADER = [
    "vendor_guid",
    "object_type",
    "title",
    "description",
    "display_name",
    "calculation_method",
    "calculation_int",
    "mastery_points",
    "parent_guids",
    "ratings",
]
RATING_CELLS = 8  # 4 tiers of (points, description)
WIDTH = len(HEADER) - 1 + RATING_CELLS  # `ratings` itself names no cell: rating cells start there
RATINGS = [
    "4",
    "Exceeds Expectations",
    "3",
    "Meets Expectations",
    "2",
    "Approaching Expectations",
    "1",
    "Below Expectations",
]
# Markers the changed file uses, so a check can count the changed rows in the database.
REVISED_TITLE_SUFFIX = " (revised)"
REVISED_DESCRIPTION_SUFFIX = " Revised wording (revised)."
CHANGED_RATINGS = [
    "4",
    "Exceeds the Standard",
    "3",
    "Meets the Standard",
    "2",
    "Nearly Meets the Standard",
    "0.5",
    "Not Yet",
]
CHANGED_TOP_TIER = CHANGED_RATINGS[1]

# (method, calculation_int cell, weight); ints as a district sets them.
METHODS = [
    ("decaying_average", "65", 40),
    ("n_mastery", "3", 20),
    ("highest", "", 15),
    ("latest", "", 15),
    ("average", "", 10),
]
SUBJECTS = [
    "Mathematics",
    "English Language Arts",
    "Science",
    "Social Studies",
    "World Languages",
    "Visual Arts",
    "Music",
    "Health",
    "Physical Education",
    "Computer Science",
    "Career Readiness",
]
GRADE_BANDS = ["Grades K-2", "Grades 3-5", "Grades 6-8", "Grades 9-12"]
STRAND_TOPICS = [
    "Foundations",
    "Reasoning",
    "Communication",
    "Inquiry",
    "Applications",
    "Connections",
    "Structure",
    "Modeling",
    "Analysis",
]
VERBS = [
    "explain",
    "compare",
    "analyze",
    "describe",
    "evaluate",
    "model",
    "interpret",
    "construct",
    "justify",
    "apply",
    "identify",
    "summarize",
    "investigate",
    "represent",
]
OBJECTS = [
    "fractions and decimals",
    "the structure of an argument",
    "patterns in data",
    "cause and effect",
    "the properties of matter",
    "primary and secondary sources",
    "rates and ratios",
    "the central idea of a text",
    "energy transfer in systems",
    "geometric relationships",
    "civic responsibilities",
    "linear functions",
]
SETTINGS = [
    "using visual models",
    "in written responses",
    "with grade-level texts",
    "through collaborative tasks",
    "in real-world contexts",
    "with appropriate tools",
]
COMMA_CLAUSES = [
    ", including multiple representations, peer feedback and revision",
    ", with precision, clarity and appropriate vocabulary",
    ", drawing on evidence, prior knowledge, and reasoning",
]
FILLERS = [
    "Evidence is gathered through classroom tasks and common assessments.",
    "Students reflect on their progress and set goals for the next unit.",
    "Teachers provide feedback that names next steps for each learner.",
    "Performance is judged against the district rubric for this strand.",
    "Learners transfer the skill to unfamiliar problems over time.",
]
DESCRIPTION_CHARS = 190


@dataclass(frozen=True, slots=True)
class _Group:
    index: int
    parent: int | None  # index of the parent group; None: under the root group
    depth: int  # 1 = directly under the root group
    title: str
    leaf: bool  # outcomes go into leaves only


@dataclass(slots=True)
class GeneratedFile:
    """What the file holds: what a successful import must leave in the database."""

    path: str
    rows: int  # data rows (the header excluded)
    groups: int
    outcomes: int
    links: int  # outcome -> group links
    multi_linked_outcomes: int  # outcomes with two parent groups
    links_by_depth: dict[int, int] = field(default_factory=dict)  # depth of the linked group -> links
    max_group_depth: int = 0
    methods: dict[str, int] = field(default_factory=dict)  # "decaying_average/65" -> outcomes
    changed_titles: int = 0
    changed_descriptions: int = 0
    changed_ratings: int = 0
    bytes: int = 0
    seconds: float = 0.0

    def as_json(self) -> dict[str, object]:
        return asdict(self)


def _group_plan(total: int) -> Iterator[_Group]:
    """`total` groups in file (depth-first) order; a level closes only when enough groups remain for
    the next one to reach depth 3, so every outcome ends 3 or 4 deep whatever `total` is (>= 3)."""
    remaining = total
    index = 0
    subject = 0

    def make(parent: int | None, depth: int, title: str, leaf: bool) -> _Group:
        nonlocal index, remaining
        index += 1
        remaining -= 1
        return _Group(index, parent, depth, title, leaf)

    while remaining > 0:
        name = SUBJECTS[subject % len(SUBJECTS)]
        cycle = subject // len(SUBJECTS)
        subject_group = make(None, 1, name if cycle == 0 else f"{name} (set {cycle + 1})", False)
        yield subject_group
        for band in GRADE_BANDS:
            if remaining == 0:
                return
            grade = make(subject_group.index, 2, f"{subject_group.title}: {band}", False)
            yield grade
            strand = 0
            while remaining > 0 and not (strand >= STRANDS_PER_GRADE and remaining >= 3):
                topic = STRAND_TOPICS[strand % len(STRAND_TOPICS)]
                title = f"{band} {name} strand {strand + 1}: {topic}"
                if strand % 2 == 1 and remaining >= 3:
                    parent = make(grade.index, 3, title, False)
                    yield parent
                    for cluster in "AB":
                        yield make(parent.index, 4, f"{title}, cluster {cluster}", True)
                else:
                    yield make(grade.index, 3, title, True)
                strand += 1
        subject += 1


def _description(rng: random.Random) -> str:
    parts = [f"Students {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(SETTINGS)}"]
    roll = rng.random()
    if roll < 0.33:
        parts.append(rng.choice(COMMA_CLAUSES))
    elif roll < 0.36:
        parts.append(' and "show their work" in every response')
    parts.append(".")
    text = "".join(parts)
    while len(text) < DESCRIPTION_CHARS:
        text += " " + rng.choice(FILLERS)
    return text


def generate(
    path: Path, rows: int, seed: int = 1, changed_fraction: float = 0.0, guid_prefix: str = "district"
) -> GeneratedFile:
    """Write the file to `path` (streamed: memory grows only with the number of groups) and describe it.

    Every vendor_guid starts with `guid_prefix` followed by "-group-" or "-outcome-". Outcome guids are
    global, so files imported into different contexts need prefixes of their own; with a prefix that
    occurs nowhere in the text (say "tpl0"; not "district", which "district-wide" contains), a copy with
    every "tpl0-" replaced is such a file, described by the same figures.
    """
    if rows < MIN_ROWS:
        raise ValueError(f"rows must be at least {MIN_ROWS}")
    started = time.perf_counter()
    total_groups = max(3, round(rows * GROUP_SHARE))
    outcomes = rows - total_groups
    leaves = sum(1 for g in _group_plan(total_groups) if g.leaf)
    per_leaf, extra = divmod(outcomes, leaves)
    rng = random.Random(seed)
    change_rng = random.Random(seed * 7919 + 1)
    methods, weights = [(m, i) for m, i, _ in METHODS], [w for _, _, w in METHODS]
    stats = GeneratedFile(str(path), rows, total_groups, outcomes, 0, 0)
    links_by_depth: Counter[int] = Counter()
    method_counts: Counter[str] = Counter()
    leaf_guids: list[str] = []
    leaf_depths = bytearray()
    outcome_no = 0
    blank_tail = [""] * (WIDTH - 5)
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(HEADER + [""] * (RATING_CELLS - 1))
        for group in _group_plan(total_groups):
            guid = f"{guid_prefix}-group-{group.index:07d}"
            parent = "" if group.parent is None else f"{guid_prefix}-group-{group.parent:07d}"
            writer.writerow(
                [
                    guid,
                    "group",
                    group.title,
                    f"Outcomes for {group.title}, district-wide.",
                    *blank_tail[:4],
                    parent,
                    *blank_tail[4:],
                ]
            )
            stats.max_group_depth = max(stats.max_group_depth, group.depth)
            if not group.leaf:
                continue
            leaf_guids.append(guid)
            leaf_depths.append(group.depth)
            count = per_leaf + (1 if len(leaf_guids) <= extra else 0)
            for _ in range(count):
                outcome_no += 1
                code = f"{group.index}.{outcome_no}"
                title = f"{rng.choice(VERBS).capitalize()} {rng.choice(OBJECTS)} ({code})"
                description = _description(rng)
                method, calculation_int = rng.choices(methods, weights)[0]
                parents = guid
                links_by_depth[group.depth] += 1
                if rng.random() < MULTI_LINK_SHARE and len(leaf_guids) > 1:
                    other = rng.randrange(len(leaf_guids) - 1)
                    parents = f"{guid} {leaf_guids[other]}"
                    links_by_depth[leaf_depths[other]] += 1
                    stats.multi_linked_outcomes += 1
                ratings = RATINGS
                if changed_fraction and change_rng.random() < changed_fraction:
                    kind = change_rng.randrange(3)
                    if kind == 0:
                        title += REVISED_TITLE_SUFFIX
                        stats.changed_titles += 1
                    elif kind == 1:
                        description += REVISED_DESCRIPTION_SUFFIX
                        stats.changed_descriptions += 1
                    else:
                        ratings = CHANGED_RATINGS
                        stats.changed_ratings += 1
                method_counts[f"{method}/{calculation_int}" if calculation_int else method] += 1
                writer.writerow(
                    [
                        f"{guid_prefix}-outcome-{outcome_no:08d}",
                        "outcome",
                        title,
                        description,
                        f"D.{code}",
                        method,
                        calculation_int,
                        "3",
                        parents,
                        *ratings,
                    ]
                )
    stats.links = sum(links_by_depth.values())
    stats.links_by_depth = dict(sorted(links_by_depth.items()))
    stats.methods = dict(sorted(method_counts.items()))
    stats.bytes = path.stat().st_size
    stats.seconds = round(time.perf_counter() - started, 3)
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("path", type=Path)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--changed-fraction", type=float, default=0.0)
    parser.add_argument("--guid-prefix", default="district", help="the start of every vendor_guid")
    args = parser.parse_args()
    generated = generate(args.path, args.rows, args.seed, args.changed_fraction, args.guid_prefix)
    print(json.dumps(generated.as_json(), indent=2))


if __name__ == "__main__":
    main()
