"""MAGE, the mean amplitude of glycaemic excursions, by the moving-average algorithm.

Sources: Service FJ, Molnar GD, Rosevear JW, et al. Mean amplitude of glycemic excursions, a
measure of diabetic instability. Diabetes 1970;19(9):644-655, doi:10.2337/diab.19.9.644
(the measure); Fernandes NJ, Nguyen N, Chun E, Punjabi N, Gaynanova I. Open-source algorithm
to calculate mean amplitude of glycemic excursions using short and long moving averages.
J Diabetes Sci Technol 2022;16(2):576-577, doi:10.1177/19322968211061165 (the algorithm, as
implemented in iglu's ``mage_ma_single``, whose recorded results we reproduce).

Algorithm (per patient, on the shared 5-minute grid, glucose in mg/dL)
----------------------------------------------------------------------
1. Trim leading/trailing NaN and split the row into *segments* at runs of more than
   ``max_gap_min`` (180 min) of NaN; shorter gaps stay inside a segment as NaN. A segment with
   fewer than ``long_ma`` (32) slots, or fewer than 7, yields nothing.
2. Short and long moving averages (``short_ma`` = 5 and ``long_ma`` = 32 slots, right
   aligned, NaN ignored); the first ``w - 1`` positions take the value at position ``w - 1``.
3. Crossing points where ``delta = MA_short - MA_long`` changes sign between two positions
   with finite glucose and finite delta (a sign change hidden by a NaN stretch is registered at
   the first valid position after it), plus the first and last positions. A crossing where
   delta turns negative opens a search for a nadir, positive for a peak.
4. The i-th turning point is the minimum (or maximum) of the glucose from the previous turning
   point up to the next crossing.
5. Excursion elimination against the segment's SD (sample SD of its grid values): MAGE+
   counts nadir-to-peak rises of at least 1 SD whose peak is followed by a fall of more than
   1 SD (or the end), MAGE- the peak-to-nadir falls symmetrically.
6. Each segment's MAGE+ and MAGE- (mean heights, mg/dL) are averaged with weights equal to
   the segment's duration; MAGE is that average over all segments (direction "avg").

Deliberate difference: a segment whose SD is 0 (a flat trace) has no excursion and yields
nothing; the reference implementation loops forever on it.

Vectorisation: moving averages come from row cumulative sums (positions whose delta is within
1e-4 of zero are recomputed exactly, in extended precision as R does, so that no crossing
depends on rounding); crossings from sign arrays and a forward fill; turning points from
interval extremes plus a fixed-point iteration over the "previous turning point" dependency
(it converges in a few rounds and its fixed point is the sequential answer); excursion
elimination runs one step per iteration for all segments at once.

Status: no grid value -> NO_DATA; no segment of >= 32 slots -> INSUFFICIENT; segments but no
excursion larger than 1 SD -> UNDEFINED (NaN).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from monitoring.analytics.resample import SLOT_S, GlucoseGrid

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

#: Fernandes 2022 defaults: 5 and 32 slots of 5 minutes (25 min and 160 min windows).
SHORT_MA = 5
LONG_MA = 32
#: Gaps longer than this split a trace into independently analysed segments (iglu default).
MAX_GAP_MIN = 180.0
_MIN_SEGMENT = 7
_AMBIGUOUS_DELTA = 1e-4  # |delta| below this is recomputed exactly before taking its sign
_BIG = np.iinfo(np.int64).max


@dataclass(frozen=True, slots=True)
class MageResult:
    """Per-patient MAGE (mg/dL) with what the status decision needs."""

    mage_mg_dl: FloatArray
    n_segments: IntArray
    n_excursions: IntArray


def _ramp(counts: IntArray) -> IntArray:
    """``concatenate([arange(c) for c in counts])`` without a Python loop."""
    total = int(counts.sum())
    return np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)


def _exact_mean_ld(windows: FloatArray) -> FloatArray:
    """Mean of each row ignoring NaN, in extended precision with R's refinement step."""
    ok = np.isfinite(windows)
    x = np.where(ok, windows, 0.0).astype(np.longdouble)
    n = ok.sum(axis=1).astype(np.longdouble)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = x.sum(axis=1) / n
        t = np.where(ok, x - s[:, None], 0.0).sum(axis=1)
        s = s + t / n
    out: FloatArray = np.asarray(s, dtype=np.float64)
    return out


def _segments(ok: BoolArray, n_cols: int, max_gap_slots: int) -> tuple[IntArray, IntArray]:
    """First and last flat position of each segment: runs of values within one row whose NaN
    gaps are at most ``max_gap_slots`` long."""
    n = ok.size
    change = np.flatnonzero(ok[1:] != ok[:-1]) + 1
    rows = np.arange(n_cols, n, n_cols, dtype=np.int64)
    cuts = np.union1d(change, rows)
    starts = np.concatenate(([0], cuts)).astype(np.int64)
    ends = np.concatenate((cuts, [n])).astype(np.int64)
    keep = ok[starts]
    va, vb = starts[keep], ends[keep] - 1
    if va.size == 0:
        return va, vb
    merge = ((va[1:] // n_cols) == (vb[:-1] // n_cols)) & (va[1:] - vb[:-1] - 1 <= max_gap_slots)
    first = np.concatenate(([True], ~merge))
    last = np.concatenate((~merge, [True]))
    return va[first], vb[last]


def _rolling_mean(csum: FloatArray, ccnt: NDArray[np.int32], width: int) -> FloatArray:
    """Right-aligned mean over ``width`` columns of each row, from row cumulative sums."""
    s = np.empty_like(csum)
    c = np.empty_like(ccnt)
    s[:, :width] = csum[:, :width]
    c[:, :width] = ccnt[:, :width]
    np.subtract(csum[:, width:], csum[:, :-width], out=s[:, width:])
    np.subtract(ccnt[:, width:], ccnt[:, :-width], out=c[:, width:])
    with np.errstate(invalid="ignore", divide="ignore"):
        np.divide(s, c, out=s)
    return s.reshape(-1)


def _window_values(flat: FloatArray, eff: IntArray, width: int) -> FloatArray:
    windows: FloatArray = flat[eff[:, None] + np.arange(-width + 1, 1, dtype=np.int64)[None, :]]
    return windows


def _first_extreme(
    flat: FloatArray, ok: BoolArray, start: IntArray, length: IntArray, is_max: BoolArray
) -> tuple[FloatArray, IntArray]:
    """Key (glucose, or -glucose for peaks) and first position of the extreme of each range
    ``[start, start + length)`` (all lengths > 0); NaN positions never win."""
    pos = np.repeat(start, length) + _ramp(length)
    neg = np.repeat(is_max, length)
    v = flat[pos]
    key = np.where(ok[pos], np.where(neg, -v, v), np.inf)
    at = np.cumsum(length) - length
    best = np.minimum.reduceat(key, at)
    hits = np.flatnonzero(key == np.repeat(best, length))  # sorted; one or more per range
    first = hits[np.searchsorted(hits, at)]
    return best, pos[first]


def _piece_extremes(
    flat: FloatArray,
    ok: BoolArray,
    start: IntArray,
    length: IntArray,
    is_max: BoolArray,
    seg_b: IntArray,
    with_arg: bool = True,
) -> tuple[FloatArray, IntArray]:
    """:func:`_first_extreme` for pieces that partition the segments, computed with
    reductions over the flat grid (no gathers); the pieces between segments are dropped.
    Without ``with_arg`` only the extremes are computed (the positions are returned empty)."""
    n_flat = flat.size
    tail = seg_b + 1
    tail = tail[tail < n_flat]
    cuts = np.concatenate((start, tail))
    real = np.concatenate((np.ones(start.size, np.bool_), np.zeros(tail.size, np.bool_)))
    mx = np.concatenate((is_max, np.zeros(tail.size, np.bool_)))
    order = np.lexsort((real, cuts))  # at a shared position the empty filler comes first
    cuts, real, mx = cuts[order], real[order], mx[order]
    if cuts.size == 0 or cuts[0] != 0:
        cuts = np.concatenate(([0], cuts))
        real = np.concatenate(([False], real))
        mx = np.concatenate(([False], mx))
    keep = np.concatenate((cuts[1:] != cuts[:-1], [True]))  # drop empty pieces
    keep |= real
    cuts, real, mx = cuts[keep], real[keep], mx[keep]
    plen = np.diff(np.concatenate((cuts, [n_flat])))
    key = np.where(ok, flat, np.inf)
    np.negative(key, out=key, where=np.repeat(mx, plen) & ok)
    best = np.minimum.reduceat(key, cuts)
    if not with_arg:
        return best[real], np.zeros(0, dtype=np.int64)
    rc = cuts[real]
    hits = np.flatnonzero(key == np.repeat(best, plen))  # sorted; at least one per real piece
    arg = hits[np.searchsorted(hits, rc)]
    return best[real], arg


def mage(
    grid: GlucoseGrid,
    *,
    short_ma: int = SHORT_MA,
    long_ma: int = LONG_MA,
    max_gap_min: float = MAX_GAP_MIN,
) -> MageResult:
    """MAGE of each patient's grid row (moving-average algorithm, direction "avg").

    Parameters
    ----------
    grid : GlucoseGrid
        Glucose in mg/dL on the 5-minute grid.
    short_ma, long_ma : int
        Moving-average windows in slots (swapped if given in the wrong order).
    max_gap_min : float
        NaN runs longer than this split segments.

    Returns
    -------
    MageResult
        ``mage_mg_dl`` NaN where no segment yields an excursion.
    """
    if short_ma > long_ma:
        short_ma, long_ma = long_ma, short_ma
    p_n, s_n = grid.values.shape
    out = np.full(p_n, np.nan)
    n_exc_out = np.zeros(p_n, dtype=np.int64)
    values = grid.values
    flat = values.reshape(-1)
    n_flat = flat.size
    ok2 = np.isfinite(values)
    ok = ok2.reshape(-1)
    if not ok.any():
        return MageResult(out, np.zeros(p_n, dtype=np.int64), n_exc_out)

    # 1. segments (flat positions [seg_a, seg_b]); too short ones take no part
    seg_a, seg_b = _segments(ok, s_n, int(max_gap_min * 60 // SLOT_S))
    n = seg_b - seg_a + 1
    elig = (n >= _MIN_SEGMENT) & (n >= long_ma)
    if (~elig).any():
        short = np.flatnonzero(~elig)
        ok = ok.copy()
        ok[np.repeat(seg_a[short], n[short]) + _ramp(n[short])] = False
    seg_a, seg_b, n = seg_a[elig], seg_b[elig], n[elig]
    seg_row = seg_a // s_n
    n_seg_out = np.bincount(seg_row, minlength=p_n).astype(np.int64)
    if seg_a.size == 0:
        return MageResult(out, n_seg_out, n_exc_out)
    n_segs = seg_a.size

    # 2. moving averages from row cumulative sums; the first w - 1 positions of a segment take
    # the value at position w - 1; differences near zero are recomputed exactly
    csum = np.cumsum(np.where(ok2, values, 0.0), axis=1)
    ccnt = np.cumsum(ok2, axis=1, dtype=np.int32)
    ma_s = _rolling_mean(csum, ccnt, short_ma)
    ma_l = _rolling_mean(csum, ccnt, long_ma)
    del csum, ccnt
    delta = ma_s - ma_l
    lead = long_ma - 1
    lead_j = np.tile(np.arange(lead, dtype=np.int64), n_segs)
    lead_a = np.repeat(seg_a, lead)
    lead_pos = lead_a + lead_j
    delta[lead_pos] = ma_s[lead_a + np.maximum(lead_j, short_ma - 1)] - ma_l[lead_a + lead]
    del ma_s, ma_l
    amb = np.flatnonzero((np.abs(delta) < _AMBIGUOUS_DELTA) & ok)
    if amb.size:
        a_of = seg_a[np.searchsorted(seg_a, amb, side="right") - 1]
        j = amb - a_of
        eff_s = a_of + np.maximum(j, short_ma - 1)
        eff_l = a_of + np.maximum(j, long_ma - 1)
        delta[amb] = _exact_mean_ld(_window_values(flat, eff_s, short_ma)) - _exact_mean_ld(
            _window_values(flat, eff_l, long_ma)
        )

    # 3. crossings
    good = ok & np.isfinite(delta)
    valid = np.zeros(n_flat, dtype=np.bool_)
    np.logical_and(good[1:], good[:-1], out=valid[1:])
    valid[seg_a] = False
    del good
    sign = np.sign(delta)
    cross_a = np.zeros(n_flat, dtype=np.bool_)
    with np.errstate(invalid="ignore"):
        np.less(delta[1:] * delta[:-1], 0.0, out=cross_a[1:])
    cross_a &= valid
    cand = valid & (sign != 0)
    cand[seg_a] = True  # seed: the first point's sign (which may be 0)
    s0 = sign[seg_a]
    zero = np.flatnonzero(s0 == 0)
    if zero.size:  # state 0: nothing registers before the first strict sign change
        a_idx = np.flatnonzero(cross_a)
        k = np.searchsorted(a_idx, seg_a[zero], side="right")
        first_a = np.where(
            k < a_idx.size,
            a_idx[np.minimum(k, max(a_idx.size - 1, 0))] if a_idx.size else seg_b[zero] + 1,
            seg_b[zero] + 1,
        )
        first_a = np.minimum(first_a, seg_b[zero] + 1)
        lens = np.maximum(first_a - seg_a[zero] - 1, 0)
        cand[np.repeat(seg_a[zero] + 1, lens) + _ramp(lens)] = False
    # the state before i is the sign at the last candidate before i: sign[i - 1] when i - 1 is
    # a candidate (then a flip is a strict sign change, already in cross_a); positions after a
    # run of non-candidates look the state up
    registered = cross_a
    special = np.flatnonzero(valid[1:] & ~cand[:-1]) + 1
    if special.size:
        nc_start = np.flatnonzero(~cand[1:] & cand[:-1]) + 1
        run = np.searchsorted(nc_start, special - 1, side="right") - 1
        state = sign[nc_start[np.maximum(run, 0)] - 1]
        flip = special[sign[special] * state < 0]
        if flip.size:
            registered = cross_a.copy()
            registered[flip] = True
    reg_pos = np.flatnonzero(registered)
    del valid, cross_a, cand, registered
    c_pos = np.concatenate((seg_a, reg_pos, seg_b))
    c_key = np.concatenate(
        (np.zeros(n_segs, np.int64), np.ones(reg_pos.size, np.int64), np.full(n_segs, 2))
    )
    # True: the crossing opens a search for a peak (REL_MAX); False: for a nadir
    c_is_max = np.concatenate((delta[seg_a] > 0, delta[reg_pos] >= 0, delta[seg_b] > 0))
    del delta, sign
    order = np.lexsort((c_key, c_pos))
    c_pos = c_pos[order]
    c_is_max = c_is_max[order]
    c_seg = np.searchsorted(seg_a, c_pos, side="right") - 1
    c_count = np.bincount(c_seg, minlength=n_segs).astype(np.int64)
    c_off = np.concatenate(([0], np.cumsum(c_count))).astype(np.int64)

    # 4. turning points: extremum e (the k-th of its segment) over [idx_{k-1}, c_{k+1}]
    n_ext = c_count - 1
    e_off = np.concatenate(([0], np.cumsum(n_ext))).astype(np.int64)
    e_seg = np.repeat(np.arange(n_segs, dtype=np.int64), n_ext)
    e_k = _ramp(n_ext)
    e_c = c_off[e_seg] + e_k
    e_is_max = c_is_max[e_c]
    i_start = c_pos[e_c]
    i_next = c_pos[e_c + 1]
    e_last = e_k == n_ext[e_seg] - 1
    i_len = np.where(e_last, i_next + 1, i_next) - i_start  # half-open partition, > 0
    q_key, q_arg = _piece_extremes(flat, ok, i_start, i_len, e_is_max, seg_b)
    # the closing crossing c_{k+1} is in the range but not in the half-open piece
    pv = flat[i_next]
    pt_key = np.where(e_is_max, -pv, pv)
    use_pt = (~e_last) & (pt_key < q_key)
    q_key = np.where(use_pt, pt_key, q_key)
    q_arg = np.where(use_pt, i_next, q_arg)
    # idx_e depends on idx_{e-1} (the tail [idx_{e-1}, c_k) of the previous range): iterate
    # to the fixed point; each round settles at least one more turning point per segment, and
    # in practice two or three rounds change nothing
    ext_arg = q_arg.copy()
    has_prev = e_k > 0
    # first round: the tail of extremum e lies in the previous piece, so it can only win if
    # that whole piece holds a value at least as extreme (in e's direction) as e's own best
    opp_key, _ = _piece_extremes(flat, ok, i_start, i_len, ~e_is_max, seg_b, with_arg=False)
    prev_piece_best = np.empty_like(q_key)
    prev_piece_best[1:] = np.where(e_is_max[1:] == e_is_max[:-1], q_key[:-1], opp_key[:-1])
    prev_piece_best[0] = np.inf
    todo = np.flatnonzero(has_prev & (prev_piece_best <= q_key))
    while todo.size:
        prev = ext_arg[todo - 1]
        t_len = np.maximum(i_start[todo] - prev, 0)
        new = q_arg[todo].copy()
        nz = np.flatnonzero(t_len > 0)
        if nz.size:
            t_key, t_arg = _first_extreme(flat, ok, prev[nz], t_len[nz], e_is_max[todo[nz]])
            wins = t_key <= q_key[todo[nz]]  # the tail comes first: it wins ties
            new[nz] = np.where(wins, t_arg, new[nz])
        changed = todo[new != ext_arg[todo]]
        ext_arg[todo] = new
        nxt = changed + 1
        nxt = nxt[nxt < e_k.size]
        todo = nxt[has_prev[nxt]]
    mm = flat[ext_arg]

    # 5. excursion elimination against each segment's SD, all segments in lockstep; the SD
    # comes from reductions over the flat grid cut at segment bounds (pieces between segments
    # hold no valid value and are dropped)
    cuts = np.union1d(np.concatenate(([0], seg_a)), seg_b[seg_b + 1 < n_flat] + 1)
    real = np.isin(cuts, seg_a, assume_unique=True)
    plen = np.diff(np.concatenate((cuts, [n_flat])))
    cnt = np.add.reduceat(ok, cuts, dtype=np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.add.reduceat(np.where(ok, flat, 0.0), cuts) / cnt
    dev = np.where(ok, flat - np.repeat(mean, plen), 0.0)
    ssq = np.add.reduceat(dev * dev, cuts)
    del dev
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt(ssq[real] / (cnt[real] - 1))
    plus_sum, plus_cnt, minus_sum, minus_cnt = _excursions(mm, e_off, n_ext, sd)

    # 6. duration-weighted average of MAGE+ and MAGE- over segments
    dur = (seg_b - seg_a).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        plus = np.where(plus_cnt > 0, plus_sum / plus_cnt, np.nan)
        minus = np.where(minus_cnt > 0, np.abs(minus_sum / minus_cnt), np.nan)
    vals = np.concatenate((plus, minus))
    durs = np.concatenate((dur, dur))
    rows = np.concatenate((seg_row, seg_row))
    fin = np.isfinite(vals)
    tot = np.bincount(rows[fin], weights=durs[fin], minlength=p_n)
    with np.errstate(invalid="ignore", divide="ignore"):
        contrib = vals[fin] * (durs[fin] / tot[rows[fin]])
    res = np.bincount(rows[fin], weights=contrib, minlength=p_n)
    has = np.bincount(rows[fin], minlength=p_n) > 0
    out = np.where(has, res, np.nan)
    n_exc_out = np.bincount(
        seg_row, weights=(plus_cnt + minus_cnt).astype(np.float64), minlength=p_n
    ).astype(np.int64)
    return MageResult(out, n_seg_out, n_exc_out)


def _excursions(
    mm: FloatArray, e_off: IntArray, n_ext: IntArray, sd: FloatArray
) -> tuple[FloatArray, IntArray, FloatArray, IntArray]:
    """Run the MAGE+ and MAGE- elimination of every segment in lockstep.

    Each segment's turning points are ``mm[e_off[s]:e_off[s + 1]]``. MAGE- is MAGE+ on the
    negated turning points except for where the search restarts after an excursion (MAGE+
    at the end of the fall that closed it, MAGE- back at the excursion's nadir, re-examining
    the current point), so one machine with a per-machine sign and restart mode runs both.
    Returns the sum and count of the recorded heights (in mg/dL, positive) per segment.
    """
    n_segs = n_ext.size
    plus_sum = np.zeros(n_segs)
    minus_sum = np.zeros(n_segs)
    plus_cnt = np.zeros(n_segs, dtype=np.int64)
    minus_cnt = np.zeros(n_segs, dtype=np.int64)
    live = np.flatnonzero((n_ext > 0) & np.isfinite(sd) & (sd > 0))
    if live.size == 0:
        return plus_sum, plus_cnt, minus_sum, minus_cnt
    n_live = live.size
    seg = np.concatenate((live, live))
    sgn = np.concatenate((np.ones(n_live), -np.ones(n_live)))
    is_minus = np.concatenate((np.zeros(n_live, np.bool_), np.ones(n_live, np.bool_)))
    first = e_off[seg]
    last = first + n_ext[seg] - 1
    sdv = sd[seg]
    j = first.copy()
    phase = np.zeros(seg.size, dtype=np.int8)  # 0 search for a rise >= sd, 1 extend the peak
    run = sgn * mm[first]  # running minimum (in signed values) since the search started
    peak = first.copy()
    base = np.zeros(seg.size)
    since = np.zeros(seg.size)  # running minimum since the current peak (MAGE- restart)
    h_sum = np.zeros(seg.size)
    h_cnt = np.zeros(seg.size, dtype=np.int64)
    act = np.arange(seg.size)
    while act.size:
        srch = act[phase[act] == 0]
        if srch.size:
            v = sgn[srch] * mm[j[srch]]
            r = np.minimum(run[srch], v)
            run[srch] = r
            go = v - r >= sdv[srch]
            g = srch[go]
            phase[g] = 1
            peak[g] = j[g]
            base[g] = r[go]
            since[g] = v[go]
            s = srch[~go]
            j[s] += 1
        ext = act[phase[act] == 1]
        if ext.size:
            k = j[ext]
            v = sgn[ext] * mm[k]
            up = v > sgn[ext] * mm[peak[ext]]
            peak[ext[up]] = k[up]
            since[ext] = np.where(up, v, np.minimum(since[ext], v))
            top = sgn[ext] * mm[peak[ext]]
            stop = (v - top < -sdv[ext]) | (k == last[ext])
            st = ext[stop]
            h_sum[st] += top[stop] - base[st]
            h_cnt[st] += 1
            phase[st] = 0
            mi = is_minus[st]
            # MAGE+ restarts after the fall at k; MAGE- at the nadir, re-examining k
            run[st] = np.where(mi, since[st], v[stop])
            j[st[~mi]] += 1
            j[ext[~stop]] += 1
        act = act[j[act] <= last[act]]
    plus_sum[live] = h_sum[:n_live]
    plus_cnt[live] = h_cnt[:n_live]
    minus_sum[live] = -h_sum[n_live:]
    minus_cnt[live] = h_cnt[n_live:]
    return plus_sum, plus_cnt, minus_sum, minus_cnt
