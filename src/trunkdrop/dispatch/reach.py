"""Whether a van of the carrier can reach a place inside a window at all: checkout offers
no window-and-place that every plan would have to leave out (window_unreachable)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from trunkdrop.dispatch.matrix import GreatCircleMatrix, Point

# The planned time at a trunk (dispatch.flows.SERVICE_SECONDS["trunk"]; flows imports the
# deliveries service, which imports this module).
TRUNK_SERVICE_S = 180


def window_reachable(
    *, depot: Point, place: Point, window_end: datetime, day_start_hour: int, tz: str, now: datetime
) -> bool:
    """A van leaving `depot` at the start of the service day (or now, if later) reaches `place`
    and finishes a trunk deposit before `window_end`; travel as the default planner's."""
    day = window_end.astimezone(ZoneInfo(tz)).date()
    leave = max(datetime.combine(day, time(day_start_hour), ZoneInfo(tz)), now)
    seconds = int(GreatCircleMatrix().matrices([depot, place]).seconds[0][1])
    return leave + timedelta(seconds=seconds + TRUNK_SERVICE_S) <= window_end
