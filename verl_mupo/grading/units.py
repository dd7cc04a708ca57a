"""The closed list of units an answer may carry, and how a unit is split off an answer.

An answer's unit is removed only when it is on this list (or, for a count word such as ``apples``,
when the ground truth ends with the same word). Nothing else is ever removed: not ``\\pi``, ``i``,
``e``, ``\\sqrt``, nor a variable, so ``3\\pi`` never equals ``3`` and ``2x`` never equals ``2``.

==========  =================================================================================
kind        spellings (plural ``s`` accepted; ``^2``/``^3``, ``square``/``sq``/``cubic`` for areas
            and volumes of every length unit)
==========  =================================================================================
length      mm cm dm m km in inch ft foot feet yd yard mi mile millimeter/metre centimeter/metre
            decimeter/metre meter/metre kilometer/metre unit
volume      L mL ml liter litre milliliter/litre cc
angle       ° (``^\\circ``, ``\\degree``) degree deg radian rad
percent     % (``\\%``) percent percentage pct
currency    $ (``\\$``) € £ ¥ dollar cent euro pound yuan yen rupee (``$`` is removed with the math
            delimiters, so ``\\$15`` is ``15``)
time        s sec second min minute h hr hour day week month year
mass        mg g kg gram kilogram lb pound oz ounce ton tonne
speed       km/h km/hr m/s mph kmph
physics     N J kJ W kW V mV A mA Pa kPa Hz ohm Ω cal kcal °C °F
==========  =================================================================================

A one-letter unit (``m``, ``s``, ``g``, ``h``, ``N``, ``J``, ``W``, ``V``, ``A``, ``L``) must be
set apart by a space (``\\text{ m}`` becomes one): ``5 m`` is five metres, ``5m`` is five times ``m``.
Units are not converted: ``12 cm`` and ``120 mm`` differ; a unit on one side only is ignored.
"""

from __future__ import annotations

import re

__all__ = ["split_unit", "split_count_word", "same_count_word", "unit_scale", "UNIT_KINDS"]

_LENGTH = {
    "mm": "mm", "millimeter": "mm", "millimetre": "mm", "cm": "cm", "centimeter": "cm", "centimetre": "cm",
    "dm": "dm", "decimeter": "dm", "decimetre": "dm", "m": "m", "meter": "m", "metre": "m", "km": "km",
    "kilometer": "km", "kilometre": "km", "in": "in", "inch": "in", "inches": "in", "ft": "ft", "foot": "ft",
    "feet": "ft", "yd": "yd", "yard": "yd", "mi": "mi", "mile": "mi", "unit": "unit",
}
_OTHER = {
    # volume
    "L": "L", "mL": "mL", "ml": "mL", "liter": "L", "litre": "L", "milliliter": "mL", "millilitre": "mL", "cc": "cm^3",
    # angle
    "°": "°", "degree": "°", "deg": "°", "radian": "rad", "rad": "rad",
    # percent
    "%": "%", "percent": "%", "percentage": "%", "pct": "%",
    # currency
    "dollar": "$", "cent": "cent", "euro": "€", "€": "€", "£": "£", "¥": "¥", "yuan": "¥", "yen": "yen",
    "pound": "lb", "rupee": "rupee",
    # time
    "s": "s", "sec": "s", "second": "s", "min": "min", "minute": "min", "h": "h", "hr": "h", "hour": "h",
    "day": "day", "week": "week", "month": "month", "year": "year",
    # mass
    "mg": "mg", "g": "g", "gram": "g", "kg": "kg", "kilogram": "kg", "lb": "lb", "lbs": "lb", "oz": "oz",
    "ounce": "oz", "ton": "t", "tonne": "t",
    # speed
    "km/h": "km/h", "km/hr": "km/h", "kmph": "km/h", "m/s": "m/s", "mph": "mph",
    # physics
    "N": "N", "J": "J", "kJ": "kJ", "W": "W", "kW": "kW", "V": "V", "mV": "mV", "A": "A", "mA": "mA",
    "Pa": "Pa", "kPa": "kPa", "Hz": "Hz", "ohm": "Ω", "Ω": "Ω", "cal": "cal", "kcal": "kcal",
    "°C": "°C", "°F": "°F",
}
#: canonical unit -> kind (for the docs and tests)
UNIT_KINDS = {**{u: "length" for u in _LENGTH.values()}, "L": "volume", "mL": "volume", "cm^3": "volume",
              "°": "angle", "rad": "angle", "%": "percent", "$": "currency", "cent": "currency", "€": "currency",
              "£": "currency", "¥": "currency", "yen": "currency", "rupee": "currency", "s": "time", "min": "time",
              "h": "time", "day": "time", "week": "time", "month": "time", "year": "time", "mg": "mass", "g": "mass",
              "kg": "mass", "lb": "mass", "oz": "mass", "t": "mass", "km/h": "speed", "m/s": "speed", "mph": "speed"}


# canonical unit -> (dimension, size in the dimension's base unit): conversions a chain may state
# (100 cm = 1 m, 1 h = 60 min, \frac{\pi}{6} = 30°, 10 m/s = 36 km/h, 1 kW = 1000 W, 2 years = 24 months)
_SCALE = {"mm": ("length", 1e-3), "cm": ("length", 1e-2), "dm": ("length", 1e-1), "m": ("length", 1.0),
          "km": ("length", 1e3), "in": ("length", 0.0254), "ft": ("length", 0.3048), "yd": ("length", 0.9144),
          "mi": ("length", 1609.344), "mL": ("volume", 1e-6), "L": ("volume", 1e-3), "s": ("time", 1.0),
          "min": ("time", 60.0), "h": ("time", 3600.0), "day": ("time", 86400.0), "week": ("time", 604800.0),
          "mg": ("mass", 1e-3), "g": ("mass", 1.0), "kg": ("mass", 1e3), "t": ("mass", 1e6), "lb": ("mass", 453.59237),
          "oz": ("mass", 28.349523125), "°": ("angle", 0.017453292519943295), "rad": ("angle", 1.0),
          "month": ("time", 2629746.0), "year": ("time", 31556952.0), "m/s": ("speed", 1.0),
          "km/h": ("speed", 1 / 3.6), "mph": ("speed", 0.44704), "W": ("power", 1.0), "kW": ("power", 1e3),
          "J": ("energy", 1.0), "kJ": ("energy", 1e3), "cal": ("energy", 4.184), "kcal": ("energy", 4184.0),
          "V": ("voltage", 1.0), "mV": ("voltage", 1e-3), "A": ("current", 1.0), "mA": ("current", 1e-3),
          "Pa": ("pressure", 1.0), "kPa": ("pressure", 1e3), "$": ("currency $", 1.0), "cent": ("currency $", 0.01)}


def unit_scale(unit: str) -> tuple[str, float] | None:
    """``(dimension, size in the base unit)`` of a canonical unit from :func:`split_unit` (``cm^2`` ->
    ``("length^2", 1e-4)``, ``cm^3`` is a volume), ``None`` for a unit that is not converted."""
    base, _, power = unit.partition("^")
    if base in _SCALE and _SCALE[base][0] == "length" and power in ("2", "3"):
        dim, size = _SCALE[base]
        return ("volume", size ** 3) if power == "3" else (f"{dim}^2", size ** 2)
    return _SCALE.get(unit) if not power else None


def _alternation(names) -> str:
    return "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))


_PLURAL = r"(?:e?s)?"
_LEN = _alternation(_LENGTH)
_OTH = _alternation(_OTHER)
# the unit at the very end of an answer; `pre` is what must come before it
_UNIT_AT_END = re.compile(
    rf"(?P<pre>\s*)(?:"
    rf"(?P<sq>square|sq\.?|cubic|cu\.?)\s+(?P<len2>{_LEN}){_PLURAL}"
    rf"|(?P<len>{_LEN}){_PLURAL}\s*(?:\^\s*(?P<pow>[23]))?"
    rf"|(?P<oth>{_OTH}){_PLURAL}"
    rf")\s*$")
_CURRENCY_PREFIX = re.compile(r"^(?P<cur>[€£¥])\s*")
# a unit of one letter is a variable unless a space sets it apart
_ONE_LETTER = {"m", "s", "g", "h", "N", "J", "W", "V", "A", "L"}
_COUNT_WORD = re.compile(r"(?P<pre>\s+)(?P<word>[A-Za-z]{2,}(?:\s+[A-Za-z]{2,}){0,2})\s*$")


def split_unit(answer: str) -> tuple[str, str | None]:
    """``(answer without its unit, canonical unit)``; ``(answer, None)`` when it ends with no listed unit.

    ``split_unit("12 cm^2") == ("12", "cm^2")``, ``split_unit("45°") == ("45", "°")``,
    ``split_unit("3\\pi") == ("3\\pi", None)``, ``split_unit("5m") == ("5m", None)``.
    """
    s = answer.strip()
    unit = None
    m = _CURRENCY_PREFIX.match(s)
    if m:
        s, unit = s[m.end():], _OTHER[m.group("cur")]
    m = _UNIT_AT_END.search(s)
    if m is None or m.start() == 0:
        return (s, unit) if s else (answer.strip(), None)
    core = s[: m.start()].rstrip()
    name = m.group("len2") or m.group("len") or m.group("oth")
    if not core or (name in _ONE_LETTER and not m.group("pre")) or not _ends_like_a_value(core, bool(m.group("pre"))):
        return (answer.strip(), None) if unit is None else (s, unit)
    if m.group("len2") or m.group("len"):
        base = _LENGTH[name]
        power = {"square": "2", "sq": "2", "sq.": "2", "cubic": "3", "cu": "3", "cu.": "3"}.get(
            m.group("sq") or "", m.group("pow"))
        return core, base + (f"^{power}" if power else "")
    return core, _OTHER[name]


def _ends_like_a_value(core: str, spaced: bool) -> bool:
    """What precedes a unit must end a value: a digit or a closing bracket (``12cm``), or, with a space
    between, also a symbol (``3\\pi cm``, ``2x cm``); so ``rain`` has no unit ``in``."""
    if re.search(r"\\[a-zA-Z]+$", core) and not core.endswith("\\pi"):
        return False  # \angle A: a command is not a value
    return bool(re.search(r"[0-9}\)\]A-Za-z]$" if spaced else r"[0-9}\)\]]$", core))


def split_count_word(answer: str) -> tuple[str, str | None]:
    """``("5", "apples")`` for ``"5 apples"``: a trailing word (up to three) that is not a listed unit;
    ``(answer, None)`` otherwise. Used only when the ground truth ends with such a word."""
    m = _COUNT_WORD.search(answer)
    if m is None or m.start() == 0 or not re.search(r"[0-9}\)]$", answer[: m.start()]):
        return answer, None
    return answer[: m.start()].rstrip(), m.group("word")


def same_count_word(a: str, b: str) -> bool:
    """``apple`` and ``Apples`` are the same count word (case and a plural ``s``/``es`` ignored)."""
    a, b = sorted((a.lower(), b.lower()), key=len)
    return b in (a, a + "s", a + "es")
