"""The behaviour a server runs: the ``--fault``/``--variant`` names resolved against their tables.

Sits above :mod:`.behaviour`, :mod:`.faults` and :mod:`.variants` so that :class:`Behaviour`
stays a leaf the tables can describe.
"""

from __future__ import annotations

from typing import Literal

from .behaviour import Behaviour
from .faults import FAULTS
from .variants import VARIANTS


class UnknownBehaviourName(ValueError):
    """``--fault``/``--variant`` named something the tables do not have."""


def behaviour_for(
    faults: frozenset[str], variant: str | None, bounds_policy: Literal["clamp", "reject"]
) -> Behaviour:
    """The variant's knobs, then each fault's, over the conformant defaults.

    Names are checked against the tables so a typo fails loudly instead of serving the clean
    reference under a fault's name. Raises :class:`UnknownBehaviourName`.
    """
    unknown = sorted(set(faults) - set(FAULTS))
    if unknown:
        raise UnknownBehaviourName(
            f"unknown fault(s) {', '.join(unknown)}; known faults: {', '.join(sorted(FAULTS))}"
        )
    if variant is not None and variant not in VARIANTS:
        raise UnknownBehaviourName(
            f"unknown variant {variant!r}; known variants: {', '.join(sorted(VARIANTS))}"
        )
    behaviour = Behaviour(faults=frozenset(faults), variant=variant, bounds_policy=bounds_policy)
    if variant is not None:
        behaviour.set_knobs(VARIANTS[variant].knobs, f"variant {variant}")
    for name in sorted(faults):
        behaviour.set_knobs(FAULTS[name].knobs, f"fault {name}")
    return behaviour
