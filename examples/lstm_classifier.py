"""Classify variable-length noisy waves by their frequency with an LSTM over packed sequences.

Each sample is a sine wave of one of three frequencies (the class), with a random phase,
amplitude and noise, cut to a random length between ``--min-len`` and ``--max-len`` steps.
The batch is padded with ``nn.utils.rnn.pad_sequence`` and packed with
``pack_padded_sequence(..., enforce_sorted=False)``, so the two-layer ``nn.LSTM`` stops each
sequence at its own end; a linear layer reads the last layer's final hidden state
``h_n[-1]``. ``optim.Adam`` minimises the cross entropy (gradients clipped to norm 1);
accuracy is reported on a held-out set.

    python examples/lstm_classifier.py
    python examples/lstm_classifier.py --hidden 64 --epochs 30 --noise 0.5
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import plugrad as torch
from plugrad import nn, optim
from plugrad.nn.utils.rnn import pack_padded_sequence, pad_sequence

PERIODS = (16.0, 10.0, 6.0)  # steps per cycle of classes 0, 1, 2


def make_waves(n: int, min_len: int, max_len: int, noise: float) -> tuple[list[torch.Tensor], torch.Tensor]:
    """``n`` sequences of shape ``(length, 1)`` and their classes."""
    labels = torch.randint(0, len(PERIODS), (n,))
    lengths = torch.randint(min_len, max_len + 1, (n,)).tolist()
    waves = []
    for label, length in zip(labels.tolist(), lengths):
        t = torch.arange(length, dtype=torch.float32)
        phase = torch.rand(1) * (2 * math.pi)
        amplitude = 0.5 + torch.rand(1)
        wave = amplitude * torch.sin(t * (2 * math.pi / PERIODS[label]) + phase) + noise * torch.randn(length)
        waves.append(wave.unsqueeze(1))
    return waves, labels


class WaveClassifier(nn.Module):
    def __init__(self, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.lstm = nn.LSTM(1, hidden, num_layers=layers, dropout=dropout, batch_first=True)
        self.head = nn.Linear(hidden, len(PERIODS))

    def forward(self, waves: list[torch.Tensor]) -> torch.Tensor:
        lengths = torch.tensor([w.shape[0] for w in waves])
        padded = pad_sequence(waves, batch_first=True)  # (batch, longest, 1)
        packed = pack_padded_sequence(padded, lengths, batch_first=True, enforce_sorted=False)
        _, (h_n, _) = self.lstm(packed)  # h_n: (layers, batch, hidden), in the batch's own order
        return self.head(h_n[-1])


def accuracy(model: WaveClassifier, waves: list[torch.Tensor], labels: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        correct = (model(waves).argmax(dim=1) == labels).float().mean().item()
    model.train()
    return float(correct)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Classify variable-length waves with an LSTM over packed sequences.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--samples", type=int, default=600, help="training sequences (the test set has half)")
    parser.add_argument("--min-len", type=int, default=8)
    parser.add_argument("--max-len", type=int, default=30)
    parser.add_argument("--noise", type=float, default=0.3)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--dropout", type=float, default=0.1, help="between the LSTM layers")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--lr", type=float, default=0.01, help="learning rate of Adam")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for name in ("samples", "min_len", "hidden", "layers", "batch_size", "epochs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.max_len < args.min_len:
        parser.error("--max-len must be at least --min-len")
    if not 0.0 <= args.dropout < 1.0:
        parser.error("--dropout must be in [0, 1)")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    train_x, train_y = make_waves(args.samples, args.min_len, args.max_len, args.noise)
    test_x, test_y = make_waves(max(3, args.samples // 2), args.min_len, args.max_len, args.noise)
    model = WaveClassifier(args.hidden, args.layers, args.dropout if args.layers > 1 else 0.0)
    print(model)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.CrossEntropyLoss()
    start = time.perf_counter()
    losses = []
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(len(train_x)).tolist()
        total = 0.0
        for i in range(0, len(order), args.batch_size):
            idx = order[i : i + args.batch_size]
            loss = loss_fn(model([train_x[j] for j in idx]), train_y[idx])
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # keeps the recurrent gradients tame
            optimizer.step()
            total += loss.item() * len(idx)
        losses.append(total / len(order))
        print(f"epoch {epoch:3d}  loss {losses[-1]:.4f}  test accuracy {accuracy(model, test_x, test_y):.3f}")
    acc = accuracy(model, test_x, test_y)
    print(f"trained in {time.perf_counter() - start:.1f} s; test accuracy {acc:.3f} (chance {1 / len(PERIODS):.3f})")
    return {"losses": losses, "accuracy": acc}


if __name__ == "__main__":
    main()
