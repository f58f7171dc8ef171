"""Benchmark: does the segmenter find the segments that are really there?

Synthetic respondents are drawn from known latent profiles over the Big Five and answer four
6-point Likert items per dimension (two of them reverse-keyed), with item noise, rounding to
the scale and, in some cases, 10% skipped answers. They are scored like the product scores
them (reverse keys undone, mean of the answered items) and standardised with
:func:`backend.segmentation.build_features`. On each case, in the same run, the same feature
matrix goes to:

* ``product``: the product's default segmentation (a questionnaire without a
  ``segmentation`` key), exactly as a re-clustering runs it;
* ``kmeans``: KMeans, k = 2..8, the highest mean silhouette;
* ``gmm``: scikit-learn ``GaussianMixture`` (full covariance), k = 1..8, the lowest BIC;
* ``stepmix``: StepMix latent profile analysis (``measurement="continuous"``), k = 1..8,
  the lowest BIC.

Each prints the adjusted Rand index against the truth and the k it chose, with the best of
the three references per case. The grid has two parts: ``dev`` (K = 2, 3, 4, 6) is what the
default was tuned on; ``held-out`` (K = 5, 7, other seeds, other profile geometries) was kept
aside. Each part covers N from 500 to 20 000, strong / moderate / weak separation, equal and
unequal sizes (smallest 5%), 0 or 10% skipped answers, and structureless data (one profile).

Large N: the references choose k on a random subsample of ``--search-rows`` respondents
(5 000; StepMix 3 000, being 10-30x slower per fit) and the chosen model then assigns
everyone, as the product does with its own ``subsample_size``.

    .venv/bin/python bench/segment_recovery.py            # both parts, ~15 min on 2 cores
    .venv/bin/python bench/segment_recovery.py --quick    # a third of the cases
    .venv/bin/python bench/segment_recovery.py --part dev --only product,gmm
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parent.parent
# First, even when installed: the bench directory (sys.path[0]) holds a bot.py of its own.
sys.path.insert(0, str(ROOT))

from sklearn.cluster import KMeans  # noqa: E402
from sklearn.metrics import adjusted_rand_score, silhouette_score  # noqa: E402
from sklearn.mixture import GaussianMixture  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from backend.segmentation import build_features, default_segmenter  # noqa: E402

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

DIMENSIONS = ("openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism")
POINTS = 6
ITEMS = 4  # per dimension; the second and the fourth are reverse-keyed
#: Minimum distance between two profiles' latent means, in within-profile standard deviations.
SEPARATION = {"strong": 3.6, "moderate": 2.8, "weak": 2.2}
K_RANGE = range(2, 9)
REFERENCES = ("kmeans", "gmm", "stepmix")


@dataclass(frozen=True)
class Case:
    part: str
    k: int
    n: int
    separation: str  # strong, moderate, weak, or "none" (one profile)
    sizes: str  # equal or unequal
    missing: float
    seed: int

    @property
    def label(self) -> str:
        sep = "none" if self.k == 1 else self.separation
        return (
            f"K={self.k} N={self.n:>6,} {sep:<8} {self.sizes:<7} "
            f"skip={self.missing:.0%} s={self.seed}"
        )


@dataclass
class Outcome:
    case: Case
    ari: dict[str, float] = field(default_factory=dict)
    k: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    reason: str = ""


# --- data ----------------------------------------------------------------------------------


def _weights(k: int, sizes: str) -> FloatArray:
    if sizes == "equal" or k == 1:
        return np.full(k, 1.0 / k)
    # Geometric sizes on top of a 5% floor, the smallest at exactly 5% (also at K=7).
    raw = 0.6 ** np.arange(k - 1)
    rest = 0.05 + (0.95 - 0.05 * (k - 1)) * raw / raw.sum()
    return np.array([*rest, 0.05])


def _profiles(k: int, separation: str, rng: np.random.Generator) -> FloatArray:
    if k == 1:
        return rng.normal(0.0, 0.4, (1, len(DIMENSIONS)))
    centres = rng.normal(0.0, 1.0, (k, len(DIMENSIONS)))
    centres -= centres.mean(axis=0)
    gaps = np.linalg.norm(centres[:, None] - centres[None], axis=2)[np.triu_indices(k, 1)]
    return np.asarray(centres * SEPARATION[separation] / gaps.min(), dtype=np.float64)


def generate(case: Case) -> tuple[FloatArray, IntArray]:
    """Return dimension scores (item units, NaN where every item was skipped) and the truth."""
    rng = np.random.default_rng(case.seed)
    profiles = _profiles(case.k, case.separation, rng)
    truth = rng.choice(case.k, size=case.n, p=_weights(case.k, case.sizes)).astype(np.intp)
    latent = profiles[truth] + rng.normal(0.0, 1.0, (case.n, len(DIMENSIONS)))
    # Each item: the trait plus item noise, on the 1..6 scale around its middle.
    middle = (POINTS + 1) / 2
    answers = middle + 0.75 * (latent[:, :, None] + rng.normal(0.0, 0.8, (case.n, 5, ITEMS)))
    answers = np.clip(np.rint(answers), 1, POINTS)
    reverse = np.zeros(ITEMS, dtype=bool)
    reverse[1::2] = True
    given = np.where(reverse, POINTS + 1 - answers, answers)  # what the respondent ticks
    if case.missing:
        given = np.where(rng.random(given.shape) < case.missing, np.nan, given)
    # Scoring as the product does: undo the reverse key, mean of the answered items.
    keyed = np.where(reverse, POINTS + 1 - given, given)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all items of a dimension skipped
        scores = np.nanmean(keyed, axis=2)
    return scores, truth


def grid(part: str, quick: bool) -> list[Case]:
    """The cases of one part; ``quick`` keeps every third structured case and fewer nulls."""
    ks: tuple[int, ...]
    if part == "dev":
        ks, base_seed = (2, 3, 4, 6), 1_000
    else:
        ks, base_seed = (5, 7), 900_000
    ns = (500, 2_000, 5_000, 20_000)
    designs = list(itertools.product(ns, ("equal", "unequal"), (0.0, 0.1)))
    cases: list[Case] = []
    seed = base_seed
    for k_index, k in enumerate(ks):
        for s_index, separation in enumerate(SEPARATION):
            # A rotating quarter of the 16 (N, sizes, skipped) designs per K and separation,
            # so every part covers each design at each separation.
            per_cell = 4 if part == "dev" else 8
            start = (k_index * 3 + s_index) * per_cell
            for j in range(per_cell):
                n, sizes, missing = designs[(start + j * 5) % len(designs)]
                # 500 respondents cannot hold seven segments with the smallest at 5% (25).
                if n == 500 and k >= 6:
                    n = 2_000
                seed += 1
                cases.append(Case(part, k, n, separation, sizes, missing, seed))
    nulls = []
    for j in range(20):
        n, _, missing = designs[(j * 3) % len(designs)]
        seed += 1
        nulls.append(Case(part, 1, n, "none", "equal", missing, seed))
    if quick:
        cases = cases[::3]
        nulls = nulls[::2]
    return cases + nulls


# --- methods -------------------------------------------------------------------------------


def _sample(x: FloatArray, rows: int, rng: np.random.Generator) -> FloatArray:
    return x if len(x) <= rows else x[np.sort(rng.choice(len(x), rows, replace=False))]


def run_product(x: FloatArray, seed: int) -> tuple[IntArray, int, str]:
    model = default_segmenter(random_state=seed).fit(x)
    return np.asarray(model.labels_), int(model.n_clusters_), str(model.choice_reason_)


def run_kmeans(x: FloatArray, seed: int, search_rows: int) -> tuple[IntArray, int]:
    rng = np.random.default_rng(seed)
    search = _sample(x, search_rows, rng)
    best: tuple[float, int, KMeans] | None = None
    for k in K_RANGE:
        model = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(search)
        score = float(silhouette_score(search, model.labels_))
        if best is None or score > best[0]:
            best = (score, k, model)
    assert best is not None
    return np.asarray(best[2].predict(x)), best[1]


def run_gmm(x: FloatArray, seed: int, search_rows: int) -> tuple[IntArray, int]:
    rng = np.random.default_rng(seed)
    search = _sample(x, search_rows, rng)
    best: tuple[float, int, GaussianMixture] | None = None
    for k in (1, *K_RANGE):
        model = GaussianMixture(k, covariance_type="full", n_init=2, random_state=seed)
        model.fit(search)
        bic = float(model.bic(search))
        if best is None or bic < best[0]:
            best = (bic, k, model)
    assert best is not None
    return np.asarray(best[2].predict(x)), best[1]


def run_stepmix(x: FloatArray, seed: int, search_rows: int) -> tuple[IntArray, int]:
    from stepmix.stepmix import StepMix

    rng = np.random.default_rng(seed)
    search = _sample(x, min(search_rows, 3_000), rng)
    best: tuple[float, int, StepMix] | None = None
    worse_in_a_row = 0
    for k in (1, *K_RANGE):
        model = StepMix(
            n_components=k,
            measurement="continuous",
            n_init=2,
            max_iter=300,
            rel_tol=1e-6,
            verbose=0,
            progress_bar=0,
            random_state=seed,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning on some restarts
            model.fit(search)
        bic = float(model.bic(search))
        if best is None or bic < best[0]:
            best, worse_in_a_row = (bic, k, model), 0
        else:
            # The usual LPA practice: stop once BIC has risen twice in a row.
            worse_in_a_row += 1
            if worse_in_a_row == 2:
                break
    assert best is not None
    return np.asarray(best[2].predict(x)), best[1]


def evaluate(
    case: Case,
    methods: Sequence[str],
    search_rows: int,
    cache: dict[str, list[float]] | None = None,
) -> Outcome:
    scores, truth = generate(case)
    x = build_features(scores, DIMENSIONS).values
    outcome = Outcome(case)
    runners: dict[str, Callable[[], tuple[IntArray, int]]] = {
        "kmeans": lambda: run_kmeans(x, case.seed, search_rows),
        "gmm": lambda: run_gmm(x, case.seed, search_rows),
        "stepmix": lambda: run_stepmix(x, case.seed, search_rows),
    }
    for method in methods:
        key = f"{case.label}|{method}|{search_rows}"
        if cache is not None and method != "product" and key in cache:
            outcome.ari[method], k_cached, outcome.seconds[method] = cache[key]
            outcome.k[method] = int(k_cached)
            continue
        started = time.perf_counter()
        if method == "product":
            labels, k, outcome.reason = run_product(x, case.seed)
        else:
            labels, k = runners[method]()
        outcome.seconds[method] = time.perf_counter() - started
        outcome.ari[method] = float(adjusted_rand_score(truth, labels))
        outcome.k[method] = k
        if cache is not None and method != "product":
            cache[key] = [outcome.ari[method], k, outcome.seconds[method]]
    return outcome


# --- report --------------------------------------------------------------------------------


def best_of_three(outcome: Outcome) -> float | None:
    values = [outcome.ari[m] for m in REFERENCES if m in outcome.ari]
    return max(values) if len(values) == len(REFERENCES) else None


def summarise(part: str, outcomes: Sequence[Outcome], methods: Sequence[str]) -> list[str]:
    """Print the per-level means and the targets of one part; return the failed targets."""
    failed: list[str] = []
    structured = [o for o in outcomes if o.case.k > 1]
    nulls = [o for o in outcomes if o.case.k == 1]
    refs = [m for m in REFERENCES if m in methods]
    print(f"\n{part}: mean ARI by separation (k right = share of cases with the true k)")
    header = f"  {'separation':<10}{'cases':>6}"
    for m in methods:
        header += f"{m:>10}{'k right':>8}"
    if len(refs) == len(REFERENCES):
        header += f"{'best-of-3':>11}"
    print(header)
    for separation in SEPARATION:
        group = [o for o in structured if o.case.separation == separation]
        if not group:
            continue
        line = f"  {separation:<10}{len(group):>6}"
        means = {m: float(np.mean([o.ari[m] for o in group])) for m in methods}
        for m in methods:
            right = np.mean([o.k[m] == o.case.k for o in group])
            line += f"{means[m]:>10.3f}{right:>8.0%}"
        bests = [best_of_three(o) for o in group]
        if all(b is not None for b in bests):
            line += f"{np.mean([b for b in bests if b is not None]):>11.3f}"
        print(line)
        if "product" in methods and refs:
            best_single = max(refs, key=lambda m: means[m])
            if means["product"] <= means[best_single]:
                failed.append(
                    f"{part} {separation}: product {means['product']:.3f} <= "
                    f"{best_single} {means[best_single]:.3f}"
                )
    if not structured or "product" not in methods:
        return failed
    overall = float(np.mean([o.ari["product"] for o in structured]))
    bests = [best_of_three(o) for o in structured]
    if all(b is not None for b in bests):
        best_mean = float(np.mean([b for b in bests if b is not None]))
        verdict = "above" if overall > best_mean else "NOT above"
        print(
            f"  all structured: product {overall:.3f}, per-case best-of-3 {best_mean:.3f} "
            f"({verdict})"
        )
        if overall <= best_mean:
            failed.append(f"{part}: product {overall:.3f} <= best-of-3 {best_mean:.3f}")
    clear = [o for o in structured if o.case.separation in ("strong", "moderate")]
    k_right = float(np.mean([o.k["product"] == o.case.k for o in clear])) if clear else 1.0
    print(f"  true k, moderate or strong: {k_right:.0%} of {len(clear)} cases (target >= 80%)")
    if k_right < 0.8:
        failed.append(f"{part}: true k in {k_right:.0%} of moderate/strong cases")
    if nulls:
        one = float(np.mean([o.k["product"] == 1 for o in nulls]))  # share of draws
        refs_one = {m: float(np.mean([o.k[m] == 1 for o in nulls])) for m in refs}
        others = ", ".join(f"{m} {v:.0%}" for m, v in refs_one.items())
        print(
            f"  structureless: one segment in {one:.0%} of {len(nulls)} draws "
            f"(target >= 95%; {others})"
        )
        if one < 0.95:
            failed.append(f"{part}: one segment in only {one:.0%} of structureless draws")
    if refs:
        collapsed = [
            o for o in structured if o.k["product"] == 1 and all(o.k[m] > 1 for m in refs)
        ]
        print(
            f"  collapsed to one segment where every reference found structure: {len(collapsed)}"
        )
        failed.extend(f"{part}: collapsed on {o.case.label}" for o in collapsed)
    return failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="a third of the cases")
    parser.add_argument("--part", choices=("dev", "held-out", "both"), default="both")
    parser.add_argument(
        "--only", default="product,kmeans,gmm,stepmix", help="methods, comma-separated"
    )
    parser.add_argument("--search-rows", type=int, default=5_000)
    parser.add_argument("--max-n", type=int, default=None, help="skip cases above this N")
    parser.add_argument("--quiet", action="store_true", help="no per-case lines")
    parser.add_argument(
        "--cache",
        type=Path,
        help="development only: keep the references' results in this JSON file between runs",
    )
    options = parser.parse_args()
    methods = [m.strip() for m in options.only.split(",") if m.strip()]
    parts = ("dev", "held-out") if options.part == "both" else (options.part,)
    failed: list[str] = []
    started = time.perf_counter()
    cache: dict[str, list[float]] | None = None
    if options.cache is not None:
        cache = json.loads(options.cache.read_text()) if options.cache.exists() else {}
    with threadpool_limits(1):
        for part in parts:
            cases = grid(part, options.quick)
            if options.max_n is not None:
                cases = [c for c in cases if c.n <= options.max_n]
            print(f"\n== {part}: {len(cases)} cases ==")
            if not options.quiet:
                head = f"  {'case':<52}" + "".join(f"{m:>14}" for m in methods)
                print(head + "   (ARI / k chosen)")
            outcomes = []
            for case in cases:
                outcome = evaluate(case, methods, options.search_rows, cache)
                if cache is not None and options.cache is not None:
                    options.cache.write_text(json.dumps(cache))
                outcomes.append(outcome)
                if not options.quiet:
                    cells = "".join(f"{outcome.ari[m]:>9.3f} / {outcome.k[m]:<2}" for m in methods)
                    best = best_of_three(outcome)
                    extra = "" if best is None else f"  best-of-3 {best:.3f}"
                    print(f"  {case.label:<52}{cells}{extra}", flush=True)
            failed.extend(summarise(part, outcomes, methods))
    print(f"\n{time.perf_counter() - started:.0f} s in all.")
    if cache is not None:
        print("(references read from the cache where present: not a same-run comparison)")
    if "product" in methods:
        print("Targets met on every part." if not failed else "Targets missed:")
        for line in failed:
            print(f"  - {line}")


if __name__ == "__main__":
    main()
