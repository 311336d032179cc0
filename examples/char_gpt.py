"""Train a small character-level GPT on Shakespeare's sonnets, then sample text from it.

The model is a decoder-only transformer in the style of GPT-2: token and position
embeddings (``nn.Embedding``), ``--n-layer`` pre-norm blocks of causal self-attention
(``F.scaled_dot_product_attention(..., is_causal=True)``) and an MLP with GPT-2's
tanh-approximated GELU, each in a residual connection with ``nn.LayerNorm``, and a
linear head onto the characters.
``optim.AdamW`` minimises the cross entropy of the next character over random windows
of ``examples/data/sonnets.txt`` (ten sonnets, public domain). With the defaults it
trains on a CPU in about a minute and its samples look like verse: line breaks,
capitals, common words, mostly English spelling.

    python examples/char_gpt.py
    python examples/char_gpt.py --steps 1500 --n-layer 4 --plot loss.png

The program is written against PyTorch's API with plugrad imported under the name
``torch``; ``benchmarks/gpt.py`` runs this very file with PyTorch instead by swapping the
three import lines marked below.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

# --- framework imports (benchmarks/gpt.py swaps these three lines for PyTorch's) ---
import plugrad as torch
from plugrad import nn, optim
from plugrad.nn import functional as F

# --- end of framework imports ---

DATA = Path(__file__).resolve().parent / "data" / "sonnets.txt"


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where position ``t`` sees positions ``0..t`` only."""

    def __init__(self, n_embd: int, n_head: int, dropout: float) -> None:
        super().__init__()
        self.n_head = n_head
        self.qkv = nn.Linear(n_embd, 3 * n_embd)
        self.proj = nn.Linear(n_embd, n_embd)
        self.dropout = dropout
        self.resid_dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        # (B, T, C) -> (B, heads, T, head size)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True)
        y = y.transpose(1, 2).reshape(B, T, C)
        return self.resid_dropout(self.proj(y))


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(ln1(x))``, then ``x + mlp(ln2(x))``."""

    def __init__(self, n_embd: int, n_head: int, dropout: float) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head, dropout)
        self.ln2 = nn.LayerNorm(n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(n_embd, 4 * n_embd),
            nn.GELU(approximate="tanh"),  # GPT-2's form; cheaper than the erf one on NumPy
            nn.Linear(4 * n_embd, n_embd),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    """Token + position embeddings, ``n_layer`` blocks, a final layer norm and a linear head."""

    def __init__(
        self, vocab_size: int, block_size: int, n_layer: int, n_head: int, n_embd: int, dropout: float
    ) -> None:
        super().__init__()
        self.block_size = block_size
        self.tok_emb = nn.Embedding(vocab_size, n_embd)
        self.pos_emb = nn.Embedding(block_size, n_embd)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.Sequential(*[Block(n_embd, n_head, dropout) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd)
        self.head = nn.Linear(n_embd, vocab_size, bias=False)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        # GPT-2's initialisation: N(0, 0.02) weights, zero biases
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None) -> tuple[torch.Tensor, Any]:
        B, T = idx.shape
        pos = torch.arange(T, device=idx.device)
        x = self.drop(self.tok_emb(idx) + self.pos_emb(pos))
        logits = self.head(self.ln_f(self.blocks(x)))
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.view(B * T, -1), targets.view(B * T))
        return logits, loss

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0) -> torch.Tensor:
        """Append ``max_new_tokens`` characters, each drawn from the softmax of the last position's logits."""
        for _ in range(max_new_tokens):
            logits, _ = self(idx[:, -self.block_size :])
            probs = F.softmax(logits[:, -1, :] / temperature, dim=-1)
            idx = torch.cat([idx, torch.multinomial(probs, num_samples=1)], dim=1)
        return idx


# ------------------------------------------------------------------------------ data
def load_text(path: Path) -> tuple[str, list[str]]:
    text = path.read_text(encoding="utf-8")
    return text, sorted(set(text))


def get_batch(data: torch.Tensor, block_size: int, batch_size: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch_size`` random windows of ``block_size`` characters and the same windows shifted by one."""
    starts = torch.randint(0, data.shape[0] - block_size - 1, (batch_size,)).tolist()
    x = torch.stack([data[s : s + block_size] for s in starts])
    y = torch.stack([data[s + 1 : s + block_size + 1] for s in starts])
    return x.to(device), y.to(device)


@torch.no_grad()
def estimate_loss(model: GPT, data: torch.Tensor, args: argparse.Namespace, batches: int = 4) -> float:
    model.eval()
    total = 0.0
    for _ in range(batches):
        x, y = get_batch(data, args.block_size, args.batch_size, args.device)
        total += model(x, y)[1].item()
    model.train()
    return total / batches


def build(args: argparse.Namespace, vocab_size: int) -> tuple[GPT, Any]:
    """The model and its optimizer for ``args`` (also what benchmarks/gpt.py times)."""
    model = GPT(vocab_size, args.block_size, args.n_layer, args.n_head, args.n_embd, args.dropout).to(args.device)
    optimizer = optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    return model, optimizer


def train_step(model: GPT, optimizer: Any, x: torch.Tensor, y: torch.Tensor) -> float:
    _, loss = model(x, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.item())


# ------------------------------------------------------------------------- command line
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Train a small character-level GPT and sample from it.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda, or a backend name")
    parser.add_argument("--data", type=Path, default=DATA, help="a UTF-8 text file to learn")
    parser.add_argument("--steps", type=int, default=600, help="optimizer steps")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--block-size", type=int, default=64, help="context length in characters")
    parser.add_argument("--n-layer", type=int, default=2)
    parser.add_argument("--n-head", type=int, default=4)
    parser.add_argument("--n-embd", type=int, default=64)
    parser.add_argument("--dropout", type=float, default=0.1, help="on attention weights and residual branches")
    parser.add_argument("--lr", type=float, default=3e-3, help="learning rate of AdamW")
    parser.add_argument("--eval-every", type=int, default=100, help="steps between validation estimates")
    parser.add_argument("--sample-chars", type=int, default=300, help="characters to generate at the end")
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", metavar="FILE.png", help="save the training and validation loss curves")
    args = parser.parse_args(argv)
    for name in ("steps", "batch_size", "block_size", "n_layer", "n_head", "n_embd", "eval_every"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.n_embd % args.n_head:
        parser.error(f"--n-embd ({args.n_embd}) must be a multiple of --n-head ({args.n_head})")
    if not 0.0 <= args.dropout < 1.0:
        parser.error("--dropout must be in [0, 1)")
    if args.temperature <= 0:
        parser.error("--temperature must be positive")
    if args.sample_chars < 0:
        parser.error("--sample-chars must be non-negative")
    if not args.data.is_file():
        parser.error(f"--data {args.data}: no such file")
    try:
        torch.empty(0, device=args.device)
    except (RuntimeError, ValueError) as exc:
        parser.error(f"--device {args.device}: {exc}")
    return args


def require_matplotlib() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("--plot needs matplotlib, which is not installed: pip install matplotlib")
    return plt


def plot(path: str, losses: list[float], evals: list[tuple[int, float, float]]) -> None:
    plt = require_matplotlib()
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(range(1, len(losses) + 1), losses, lw=0.6, alpha=0.5, label="training batch")
    if evals:
        ax.plot([e[0] for e in evals], [e[1] for e in evals], "o-", label="training (estimate)")
        ax.plot([e[0] for e in evals], [e[2] for e in evals], "s-", label="validation (estimate)")
    ax.set_xlabel("step")
    ax.set_ylabel("cross entropy (nats per character)")
    ax.set_title("character-level GPT on the sonnets")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"saved the loss curves to {path}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.plot:
        require_matplotlib()  # fail before training, not after
    torch.manual_seed(args.seed)
    text, chars = load_text(args.data)
    if len(text) < args.block_size + 2:
        sys.exit(f"{args.data} is too short for --block-size {args.block_size}")
    stoi = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
    split = int(0.9 * len(data))
    if split - args.block_size < 2 or len(data) - split - args.block_size < 2:
        val = train = data
    else:
        train, val = data[:split], data[split:]
    model, optimizer = build(args, len(chars))
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{len(text)} characters, vocabulary of {len(chars)}; model with {n_params:,} parameters")
    print(
        f"{args.n_layer} layers, {args.n_head} heads, width {args.n_embd}, context {args.block_size}, "
        f"batch {args.batch_size}; {args.steps} steps of AdamW (lr {args.lr})"
    )
    losses: list[float] = []
    evals: list[tuple[int, float, float]] = []
    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        x, y = get_batch(train, args.block_size, args.batch_size, args.device)
        losses.append(train_step(model, optimizer, x, y))
        if step % args.eval_every == 0 or step == args.steps:
            tr, va = estimate_loss(model, train, args), estimate_loss(model, val, args)
            evals.append((step, tr, va))
            print(
                f"step {step:5d}  loss {losses[-1]:.4f}  train {tr:.4f}  val {va:.4f}  ({time.perf_counter() - start:.1f} s)"
            )
    elapsed = time.perf_counter() - start
    print(f"trained in {elapsed:.1f} s ({1000 * elapsed / args.steps:.1f} ms per step)")
    sample = ""
    if args.sample_chars:
        model.eval()
        context = torch.tensor([[stoi["\n"] if "\n" in stoi else 0]], dtype=torch.long, device=args.device)
        out = model.generate(context, args.sample_chars, temperature=args.temperature)[0].tolist()
        sample = "".join(chars[i] for i in out[1:])
        print("--- sample ---")
        print(sample)
        print("--------------")
    if args.plot:
        plot(args.plot, losses, evals)
    return {"losses": losses, "evals": evals, "sample": sample, "seconds": elapsed, "vocab": chars}


if __name__ == "__main__":
    main()
