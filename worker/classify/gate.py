"""The regression gate: may a new model replace the current one?

Both models are measured on the same fixed evaluation split, which neither was trained on (bundles are
trained on the training split only). A new model is worse, and refused, when its macro-F1 drops by
more than `f1_tolerance` or its wrong-out-of-scope rate rises by more than `wrong_oos_tolerance`.
The tolerances absorb the noise of a few hundred evaluation mails: on ~440 evaluation inquiries one
mail moves the wrong-out-of-scope rate by 0.23 points and macro-F1 by several thousandths. With no
tolerance, a model trained on 13% more data was refused for one extra wrong reply (2 -> 3 of 437).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class GateSettings:
    f1_tolerance: float = 0.005
    wrong_oos_tolerance: float = 0.0025  # one mail in 400


@dataclass(frozen=True)
class GateVerdict:
    promote: bool
    reasons: tuple[str, ...]


def judge(new: dict[str, Any], current: dict[str, Any] | None, settings: GateSettings) -> GateVerdict:
    """`new`, `current`: label_metrics of the two models on the evaluation split (None: no current model)."""
    if current is None:
        return GateVerdict(True, ("no current model to compare with",))
    reasons = []
    if new["macro_f1"] < current["macro_f1"] - settings.f1_tolerance:
        reasons.append(f"macro-F1 drops from {current['macro_f1']:.4f} to {new['macro_f1']:.4f}")
    if new["wrong_oos_rate"] > current["wrong_oos_rate"] + settings.wrong_oos_tolerance:
        reasons.append(
            f"wrong out-of-scope rate rises from {current['wrong_oos_rate']:.2%} to {new['wrong_oos_rate']:.2%}"
        )
    if reasons:
        return GateVerdict(False, tuple(reasons))
    return GateVerdict(True, ("not worse than the current model",))
