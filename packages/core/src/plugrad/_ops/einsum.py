"""``einsum`` and its friends: ``tensordot``, ``kron``, ``block_diag``, ``cdist``, ``trace``,
``diag_embed`` and ``diagonal``.

Every function here is composed of existing differentiable tensor ops (indexing,
``movedim``/``permute``, ``reshape``, ``expand``, ``sum``, ``bmm``, ``cat``), so its
gradient -- of any order -- comes from autograd, and the gradient of a contraction is
itself a chain of contractions. The graph shows the composing ops' nodes
(``BmmBackward0``, ``ViewBackward0``, ``PermuteBackward0``, ``IndexBackward0``...); PyTorch's
``einsum`` also records its composing nodes (``torch.einsum('ij,jk->ik', a, b).grad_fn``
is a ``ViewBackward0``), while its ``diagonal``/``trace``/``kron``/``cdist`` record one node
each (``DiagonalBackward0``, ``TraceBackward0``...), which plugrad does not mirror.

``diagonal`` returns a copy, not a view: plugrad has no strided views of arbitrary
element patterns. Its values and gradients match PyTorch's; writing into it does not
write into the input.

``einsum`` contracts the operands pairwise, left to right: at each step the labels both
sides share and that are still needed become batch dimensions, the labels no longer
needed are contracted, and one ``bmm`` of ``(batch, M, K) @ (batch, K, N)`` does the step.
Labels found in one operand only and needed nowhere else are summed out first; labels
repeated within one operand take that operand's diagonal first.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from typing import Any

from .._tensor import Tensor

__all__ = ["einsum", "tensordot", "kron", "block_diag", "cdist", "trace", "diag_embed", "diagonal"]


def _P() -> Any:
    return importlib.import_module("plugrad")


# --------------------------------------------------------------------- diagonal
def _wrap_dim(dim: int, ndim: int, name: str = "dim") -> int:
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise TypeError(f"{name} must be int, not {type(dim).__name__}")
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return dim % n


def diagonal(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The diagonal ``offset`` of the 2-D slices spanned by ``dim1`` and ``dim2``.

    ``out[..., i] = input[..., i, i + offset]`` (``offset > 0`` above the main diagonal),
    with ``dim1`` and ``dim2`` removed and the diagonal appended as the last dimension.
    A copy (PyTorch returns a view); gradients as PyTorch's.
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"diagonal(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
    nd = input.ndim
    d1, d2 = _wrap_dim(dim1, nd), _wrap_dim(dim2, nd)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    x = input.movedim((d1, d2), (-2, -1))
    rows, cols = x.shape[-2], x.shape[-1]
    if offset >= 0:
        n = max(min(rows, cols - offset), 0)
        r0, c0 = 0, offset
    else:
        n = max(min(rows + offset, cols), 0)
        r0, c0 = -offset, 0
    P = _P()
    i = P.arange(n, device=input.device)
    return x[..., i + r0, i + c0]


def trace(input: Tensor) -> Tensor:
    """The sum of the main diagonal of a matrix: ``Σ_i input[i, i]``."""
    if not isinstance(input, Tensor):
        raise TypeError(f"trace(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
    if input.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {input.ndim}")
    return diagonal(input).sum()


def diag_embed(input: Tensor, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """Matrices with the last dimension of ``input`` on their diagonal ``offset``.

    The result has one more dimension; ``dim1``/``dim2`` (of the result) span the
    matrices, of size ``n + |offset|`` for a last dimension of size ``n``.
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"diag_embed(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
    nd = input.ndim + 1
    d1, d2 = _wrap_dim(dim1, nd), _wrap_dim(dim2, nd)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    P = _P()
    n = input.shape[-1] if input.ndim else 1
    v = input if input.ndim else input.reshape(1)
    eye = P.eye(n, dtype=v.dtype, device=v.device)
    m: Tensor = v.unsqueeze(-1) * eye  # (..., n, n), v on the main diagonal
    k = abs(offset)
    if k:
        batch = tuple(m.shape[:-2])
        zc = P.zeros((*batch, n, k), dtype=m.dtype, device=m.device)
        zr = P.zeros((*batch, k, n + k), dtype=m.dtype, device=m.device)
        if offset > 0:  # (i, i + k): zero columns on the left, zero rows at the bottom
            m = P.cat([P.cat([zc, m], dim=-1), zr], dim=-2)
        else:  # (i + k, i): zero rows at the top, zero columns on the right
            m = P.cat([zr, P.cat([m, zc], dim=-1)], dim=-2)
    # m's last two dims are (dim1, dim2) of the result
    if d1 < d2:
        return m.movedim((-2, -1), (d1, d2))
    return m.movedim((-1, -2), (d2, d1))


# ----------------------------------------------------------------------- einsum
_ELL = "..."


def _label_of(c: str, where: int) -> int:
    if "A" <= c <= "Z":
        return ord(c) - ord("A")
    if "a" <= c <= "z":
        return 26 + ord(c) - ord("a")
    raise RuntimeError(
        f"einsum(): invalid subscript given at index {where} in the equation string, subscripts must be in [a-zA-Z]"
    )


def _char(label: int) -> str:
    return chr(ord("A") + label) if label < 26 else chr(ord("a") + label - 26)


Subs = list[int | None]  # labels; None marks the ellipsis


def _parse_term(term: str, start: int, what: str) -> Subs:
    out: Subs = []
    i = 0
    while i < len(term):
        c = term[i]
        if c == " ":
            i += 1
            continue
        if c == ".":
            if term[i : i + 3] != _ELL or None in out:
                raise RuntimeError(
                    f"einsum(): found '.' for {what} that is not part of any ellipsis"
                    + (" (...)" if what == "output" else "")
                )
            out.append(None)
            i += 3
            continue
        out.append(_label_of(c, start + i))
        i += 1
    return out


def _parse_equation(eq: str, n_ops: int) -> tuple[list[Subs], Subs | None]:
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    subs: list[Subs] = []
    pos = 0
    for k, term in enumerate(terms):
        if k >= n_ops:
            raise RuntimeError("einsum(): fewer operands were provided than specified in the equation")
        subs.append(_parse_term(term, pos, f"operand {k}"))
        pos += len(term) + 1
    if len(subs) < n_ops:
        raise RuntimeError("einsum(): more operands were provided than specified in the equation")
    out = _parse_term(rhs, len(lhs) + 2, "output") if arrow else None
    return subs, out


def _sublist(sub: Any) -> Subs:
    if not isinstance(sub, (list, tuple)):
        raise TypeError(f"einsum(): subscripts list must be a list of ints, not {type(sub).__name__}")
    out: Subs = []
    for s in sub:
        if s is Ellipsis:
            out.append(None)
        elif isinstance(s, int) and not isinstance(s, bool):
            if not 0 <= s < 52:
                raise ValueError("einsum(): subscript in subscript list is not within the valid range [0, 52)")
            out.append(s)
        else:
            raise TypeError(f"einsum(): expected int or Ellipsis in subscript list, got {type(s).__name__}")
    return out


_NO_ARGS = (
    "einsum(): must specify the equation string and at least one operand, "
    "or at least one operand and its subscripts list"
)


def einsum(*args: Any) -> Tensor:
    """Sums of products over the labelled dimensions of ``operands`` (Einstein summation).

    ``einsum("ij,jk->ik", a, b)`` is ``Σ_j a[i, j] b[j, k]``. Forms accepted, as PyTorch's:
    an equation and tensors, an equation and a list of tensors, or the sublist form
    ``einsum(a, [0, 1], b, [1, 2], [0, 2])`` (``Ellipsis`` for ``...``). Without ``->`` the
    output is ``...`` followed by the labels used exactly once, in alphabetical order
    (upper case first). A label repeated within one operand takes its diagonal; ``...``
    stands for broadcast leading dimensions.
    """
    if not args:
        raise ValueError(_NO_ARGS)
    if isinstance(args[0], str):
        eq = args[0]
        ops = list(args[1:])
        if len(ops) == 1 and isinstance(ops[0], (list, tuple)):
            ops = list(ops[0])
        if not ops:
            raise ValueError(_NO_ARGS)
        for k, op in enumerate(ops):
            if not isinstance(op, Tensor):
                raise TypeError(f"einsum(): operand {k} must be a Tensor, not {type(op).__name__}")
        subs, out = _parse_equation(eq, len(ops))
    elif isinstance(args[0], Tensor):
        rest = list(args)
        ops, subs = [], []
        while len(rest) >= 2 and isinstance(rest[0], Tensor):
            ops.append(rest.pop(0))
            subs.append(_sublist(rest.pop(0)))
        if len(rest) > 1 or (rest and isinstance(rest[0], Tensor)):
            raise ValueError(_NO_ARGS)
        out = _sublist(rest[0]) if rest else None
    else:
        raise ValueError(_NO_ARGS)
    return _einsum(ops, subs, out)


def _einsum(ops: list[Tensor], subs: list[Subs], out: Subs | None) -> Tensor:
    # 1. expand the ellipsis into labels 52, 53, ... right-aligned across operands; check ranks
    ell_rank = 0
    for k, (op, s) in enumerate(zip(ops, subs)):
        named = len([x for x in s if x is not None])
        if None in s:
            if named > op.ndim:
                raise RuntimeError(
                    f"einsum(): the number of subscripts in the equation ({named}) is more than the number "
                    f"of dimensions ({op.ndim}) for operand {k}"
                )
            ell_rank = max(ell_rank, op.ndim - named)
        elif named != op.ndim:
            raise RuntimeError(
                f"einsum(): the number of subscripts in the equation ({named}) does not match the number "
                f"of dimensions ({op.ndim}) for operand {k} and no ellipsis was given"
            )
    ell_labels = list(range(52, 52 + ell_rank))
    labels: list[list[int]] = []
    for op, s in zip(ops, subs):
        if None in s:
            n = op.ndim - (len(s) - 1)
            i = s.index(None)
            labels.append(
                [
                    *(x for x in s[:i] if x is not None),
                    *ell_labels[ell_rank - n :],
                    *(x for x in s[i + 1 :] if x is not None),
                ]
            )
        else:
            labels.append([x for x in s if x is not None])
    # 2. sizes: repeated labels must match within an operand; across operands sizes broadcast
    size: dict[int, int] = {}
    for k, (op, lab) in enumerate(zip(ops, labels)):
        seen: dict[int, int] = {}
        for d, lb in enumerate(lab):
            n = op.shape[d]
            if lb in seen and seen[lb] != n:
                raise RuntimeError(
                    f"einsum(): subscript {_char(lb)} is repeated for operand {k} but the sizes don't match, "
                    f"{n} != {seen[lb]}"
                )
            seen[lb] = n
            prev = size.get(lb)
            if prev is None or prev == 1:
                size[lb] = n
            elif n != 1 and n != prev:
                if lb >= 52:
                    raise RuntimeError(
                        f"einsum(): dimension {lb - 52} covered by ellipsis in operand {k} has size {n} which "
                        f"does not broadcast with previously seen ellipsis with size {prev} for the respective dimension"
                    )
                raise RuntimeError(
                    f"einsum(): subscript {_char(lb)} has size {n} for operand {k} which does not broadcast "
                    f"with previously seen size {prev}"
                )
    # 3. the output labels
    if out is None:
        counts: dict[int, int] = {}
        for lab in labels:
            for lb in lab:
                if lb < 52:
                    counts[lb] = counts.get(lb, 0) + 1
        out_labels = ell_labels + sorted(lb for lb, c in counts.items() if c == 1)
    else:
        out_labels = []
        for x in out:
            if x is None:
                out_labels.extend(ell_labels)
                continue
            if x in out_labels:
                raise RuntimeError(f"einsum(): output subscript {_char(x)} appears more than once in the output")
            if x not in size:
                raise RuntimeError(
                    f"einsum(): output subscript {_char(x)} does not appear in the equation for any input operand"
                )
            out_labels.append(x)
    # 4. diagonals of labels repeated within one operand
    tensors: list[Tensor] = []
    for op, lab in zip(ops, labels):
        t = op
        lab = list(lab)
        while len(set(lab)) < len(lab):
            lb = next(x for x in lab if lab.count(x) > 1)
            i = lab.index(lb)
            j = lab.index(lb, i + 1)
            t = diagonal(t, 0, i, j)
            lab = [x for d, x in enumerate(lab) if d not in (i, j)] + [lb]
        tensors.append(t)
        labels[len(tensors) - 1] = lab
    # 5. contract left to right
    cur, cur_lab = tensors[0], labels[0]
    for k in range(1, len(tensors)):
        later = set(out_labels)
        for lab in labels[k + 1 :]:
            later.update(lab)
        cur, cur_lab = _sum_unneeded(cur, cur_lab, later | set(labels[k]))
        nxt, nxt_lab = _sum_unneeded(tensors[k], labels[k], later | set(cur_lab))
        cur, cur_lab = _contract(cur, cur_lab, nxt, nxt_lab, later, size)
    cur, cur_lab = _sum_unneeded(cur, cur_lab, set(out_labels))
    # 6. broadcast ellipsis dims of size 1 that the output needs at their full size, order as the output
    if cur_lab != out_labels:
        cur = cur.permute([cur_lab.index(lb) for lb in out_labels])
    full = [size[lb] for lb in out_labels]
    if list(cur.shape) != full:
        cur = cur.expand(full)
    if any(cur is op for op in ops):  # never the input itself: a view, as PyTorch's (PermuteBackward0)
        cur = cur.permute(list(range(cur.ndim)))
    return cur


def _sum_unneeded(t: Tensor, lab: list[int], keep: set[int]) -> tuple[Tensor, list[int]]:
    drop = [d for d, lb in enumerate(lab) if lb not in keep]
    if not drop:
        return t, lab
    return t.sum(dim=tuple(drop)), [lb for lb in lab if lb in keep]


def _contract(
    a: Tensor, la: list[int], b: Tensor, lb: list[int], later: set[int], size: dict[int, int]
) -> tuple[Tensor, list[int]]:
    """``a`` and ``b`` (each without repeated or unneeded labels) into one tensor by one ``bmm``."""
    sb = set(lb)
    batch = [x for x in la if x in sb and x in later]
    contr = [x for x in la if x in sb and x not in later]
    a_only = [x for x in la if x not in sb]
    b_only = [x for x in lb if x not in set(la)]
    a = a.permute([la.index(x) for x in (*batch, *a_only, *contr)])
    b = b.permute([lb.index(x) for x in (*batch, *contr, *b_only)])
    bs = [size[x] for x in batch]
    ks = [size[x] for x in contr]
    a = a.expand([*bs, *a.shape[len(batch) : len(batch) + len(a_only)], *ks])
    b = b.expand([*bs, *ks, *b.shape[len(batch) + len(contr) :]])
    ma = list(a.shape[len(batch) : len(batch) + len(a_only)])
    nb = list(b.shape[len(batch) + len(contr) :])
    B, M, K, N = math.prod(bs), math.prod(ma), math.prod(ks), math.prod(nb)
    if K == 1 and not contr:  # an outer product over the batch: broadcasting is cheaper than bmm
        r = a.reshape(B, M, 1) * b.reshape(B, 1, N)
    else:
        r = a.reshape(B, M, K).bmm(b.reshape(B, K, N))
    return r.reshape([*bs, *ma, *nb]), [*batch, *a_only, *b_only]


# -------------------------------------------------------------------- friends
def tensordot(a: Tensor, b: Tensor, dims: int | Sequence[Any] = 2) -> Tensor:
    """Contract the last ``dims`` dimensions of ``a`` with the first ``dims`` of ``b``, or the
    dimensions listed in ``dims = (dims_a, dims_b)`` pairwise: ``Σ a[..., k] b[k, ...]``."""
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError("tensordot(): arguments 'a' and 'b' must be Tensors")
    if isinstance(dims, Tensor):
        dims = dims.tolist()
    if isinstance(dims, int) and not isinstance(dims, bool):
        if dims < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={dims}")
        if dims > a.ndim or dims > b.ndim:
            raise RuntimeError(f"tensordot expects dims < ndim_a or ndim_b, but got dims={dims}")
        da = list(range(a.ndim - dims, a.ndim))
        db = list(range(dims))
    else:
        if not isinstance(dims, (list, tuple)) or len(dims) != 2:
            raise RuntimeError("tensordot expects dims to be an int or a pair of lists of dimensions")
        pa, pb = dims
        da = [pa] if isinstance(pa, int) else list(pa)
        db = [pb] if isinstance(pb, int) else list(pb)
        if len(da) != len(db):
            raise RuntimeError("both dimension lists should have same length")
        da = [_wrap_dim(d, a.ndim) for d in da]
        db = [_wrap_dim(d, b.ndim) for d in db]
    for x, y in zip(da, db):
        if a.shape[x] != b.shape[y]:
            raise RuntimeError(
                f"contracted dimensions need to match, but first has size {a.shape[x]} in dim {x} "
                f"and second has size {b.shape[y]} in dim {y}"
            )
    ra = [d for d in range(a.ndim) if d not in da]
    rb = [d for d in range(b.ndim) if d not in db]
    k = math.prod(a.shape[d] for d in da)
    am = a.permute([*ra, *da]).reshape(-1, k)
    bm = b.permute([*db, *rb]).reshape(k, -1)
    return am.mm(bm).reshape([*(a.shape[d] for d in ra), *(b.shape[d] for d in rb)])


def kron(input: Tensor, other: Tensor) -> Tensor:
    """The Kronecker product: ``out[i·m + k, j·n + l] = input[i, j] · other[k, l]`` (any rank;
    the lower-rank operand gets leading ones)."""
    if not isinstance(input, Tensor) or not isinstance(other, Tensor):
        raise TypeError("kron(): arguments 'input' and 'other' must be Tensors")
    nd = max(input.ndim, other.ndim)
    a = input.reshape([1] * (nd - input.ndim) + list(input.shape))
    b = other.reshape([1] * (nd - other.ndim) + list(other.shape))
    # interleave: a -> (a0, 1, a1, 1, ...), b -> (1, b0, 1, b1, ...)
    ash: list[int] = []
    bsh: list[int] = []
    for x, y in zip(a.shape, b.shape):
        ash += [x, 1]
        bsh += [1, y]
    r = a.reshape(ash) * b.reshape(bsh)
    return r.reshape([x * y for x, y in zip(a.shape, b.shape)])


def block_diag(*tensors: Tensor) -> Tensor:
    """The block-diagonal matrix with ``tensors`` (0-, 1- or 2-D; 1-D is one row) on its diagonal."""
    P = _P()
    mats: list[Tensor] = []
    for k, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"block_diag(): argument 'tensors' must be tuple of Tensors, not {type(t).__name__}")
        if t.ndim > 2:
            raise RuntimeError(
                f"torch.block_diag: Input tensors must have 2 or fewer dimensions. Input {k} has {t.ndim} dimensions"
            )
        mats.append(t.reshape(1, -1) if t.ndim == 1 else t.reshape(1, 1) if t.ndim == 0 else t)
    if not mats:
        empty: Tensor = P.empty(1, 0)
        return empty
    dtype = mats[0].dtype
    for m in mats[1:]:
        dtype = P.promote_types(dtype, m.dtype)
    mats = [m.to(dtype) for m in mats]
    cols = sum(m.shape[1] for m in mats)
    rows = []
    c = 0
    for m in mats:
        r, w = m.shape
        parts = []
        if c:
            parts.append(P.zeros(r, c, dtype=dtype, device=m.device))
        parts.append(m)
        if cols - c - w:
            parts.append(P.zeros(r, cols - c - w, dtype=dtype, device=m.device))
        rows.append(P.cat(parts, dim=1) if len(parts) > 1 else m)
        c += w
    out: Tensor = P.cat(rows, dim=0)
    return out


def cdist(x1: Tensor, x2: Tensor, p: float = 2.0, compute_mode: str = "use_mm_for_euclid_dist_if_necessary") -> Tensor:
    """Pairwise ``p``-norm distances: ``out[..., i, j] = ‖x1[..., i, :] - x2[..., j, :]‖_p``.

    For ``p = 2`` with more than 25 rows on either side (or ``compute_mode=
    "use_mm_for_euclid_dist"``), the matrix-product form ``√max(|a|² + |b|² - 2 a·b, 0)``
    (PyTorch's rule); otherwise the broadcast difference.
    """
    if not isinstance(x1, Tensor) or not isinstance(x2, Tensor):
        raise TypeError("cdist(): arguments 'x1' and 'x2' must be Tensors")
    modes = ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist")
    if compute_mode not in modes:
        raise ValueError(f"{compute_mode} is not a valid value for compute_mode")
    if x1.ndim < 2:
        raise RuntimeError(f"cdist only supports at least 2D tensors, X1 got: {x1.ndim}D")
    if x2.ndim < 2:
        raise RuntimeError(f"cdist only supports at least 2D tensors, X2 got: {x2.ndim}D")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: {x1.shape[-1]} X2: {x2.shape[-1]}")
    if p < 0:
        raise RuntimeError("cdist only supports non-negative p values")
    if not x1.dtype.is_floating_point:
        raise RuntimeError(f"cdist only supports floating-point dtypes, X1 got: {x1.dtype}")
    r1, r2 = x1.shape[-2], x2.shape[-2]
    use_mm = p == 2 and (
        compute_mode == "use_mm_for_euclid_dist"
        or (compute_mode == "use_mm_for_euclid_dist_if_necessary" and (r1 > 25 or r2 > 25))
    )
    if use_mm:
        n1 = (x1 * x1).sum(-1, keepdim=True)
        n2 = (x2 * x2).sum(-1, keepdim=True)
        d2 = n1 - 2 * x1.matmul(x2.transpose(-2, -1)) + n2.transpose(-2, -1)
        return d2.clamp_min(0).sqrt()
    diff = x1.unsqueeze(-2) - x2.unsqueeze(-3)  # (..., r1, r2, m)
    if p == 0:
        return (diff != 0).to(x1.dtype).sum(-1)
    if p == 2:
        # the gradient of the norm at 0 is taken as 0 (PyTorch's choice)
        s = (diff * diff).sum(-1)
        safe = s.where(s > 0, s + 1)
        return safe.sqrt().where(s > 0, s * 0)
    if math.isinf(p):
        return diff.abs().amax(-1)
    norm: Tensor = _P().linalg.vector_norm(diff, p, dim=-1)
    return norm
