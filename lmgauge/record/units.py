"""What each unit means, in one table used by the catalogue, every judge and every renderer.

speed_sign says how the machine's speed moves a value in the unit: +1 a slower machine makes
it larger (a time), -1 smaller (a rate), 0 not at all (bytes, counts, ratios). Only units with
a speed sign are machine-bound: judged pair by pair, normalised or excused by the speed probe,
not comparable across machines. A unit not in the table is refused by the catalogue; read from
a report written elsewhere it is treated as not machine-bound, never as a throughput.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Unit:
    """symbol: as written in reports; words: the unit spelled out for a reader; speed_sign:
    see the module doc; larger, smaller: how a change to a larger or smaller value reads
    ("1.2x slower")."""

    symbol: str
    words: str
    speed_sign: int
    larger: str = "higher"
    smaller: str = "lower"

    @property
    def machine_bound(self) -> bool:
        return self.speed_sign != 0


TABLE = (
    Unit("s", "seconds", +1, "slower", "faster"),
    Unit("tokens/s", "tokens per second", -1, "faster", "slower"),
    Unit("sequences/s", "sequences per second", -1, "faster", "slower"),
    Unit("sentences/s", "sentences per second", -1, "faster", "slower"),
    Unit("requests/s", "requests per second", -1, "faster", "slower"),
    Unit("bytes/s", "bytes per second", -1, "faster", "slower"),
    Unit("FLOP/s", "floating-point operations per second", -1, "faster", "slower"),
    Unit("bytes", "bytes", 0, "more", "less"),
    Unit("count", "count", 0, "more", "fewer"),
    Unit("tokens", "tokens", 0, "more", "fewer"),
    Unit("ratio", "a ratio, no unit", 0),
    Unit("logit", "logit", 0),
    Unit("nats", "nats", 0),
    Unit("nats/token", "nats per token", 0),
)
UNITS: dict[str, Unit] = {unit.symbol: unit for unit in TABLE}
MACHINE_BOUND_UNITS = tuple(unit.symbol for unit in TABLE if unit.machine_bound)
"""Units whose values move with the machine's speed (times and rates)."""


def unit_of(symbol: str) -> Unit:
    """The table's entry, or for a unit it does not know one that the machine does not move."""
    return UNITS.get(symbol) or Unit(symbol, symbol, 0)


def check_unit(symbol: str, where: str) -> None:
    """Refuse a unit the table does not know, in one sentence naming the known ones."""
    if symbol not in UNITS:
        raise ValueError(
            f"{where}: unit '{symbol}' is not in lmgauge's table of units "
            f"(lmgauge/record/units.py); known: {', '.join(UNITS)}"
        )
