"""A character-level LSTM language model with packed sequences and gradient clipping."""

import math

import torch
from torch import nn
from torch.nn.utils import clip_grad_norm_
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence

TEXT = "to be or not to be that is the question whether tis nobler in the mind to suffer"


class CharLM(nn.Module):
    def __init__(self, vocab, emb=32, hidden=64, layers=2, dropout=0.1):
        super().__init__()
        self.embed = nn.Embedding(vocab, emb)
        self.lstm = nn.LSTM(emb, hidden, num_layers=layers, dropout=dropout, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x, lengths, state=None):
        packed = pack_padded_sequence(self.embed(x), lengths, batch_first=True, enforce_sorted=False)
        out, state = self.lstm(packed, state)
        out, _ = pad_packed_sequence(out, batch_first=True)
        return self.head(out), state


def main():
    chars = sorted(set(TEXT))
    stoi = {c: i + 1 for i, c in enumerate(chars)}
    words = TEXT.split()
    seqs = [torch.tensor([stoi[c] for c in w], dtype=torch.long) for w in words]
    lengths = torch.tensor([len(s) - 1 for s in seqs])
    padded = pad_sequence(seqs, batch_first=True, padding_value=0)
    model = CharLM(len(chars) + 1)
    opt = torch.optim.RMSprop(model.parameters(), lr=3e-3)
    loss_fn = nn.CrossEntropyLoss(ignore_index=0)
    for step in range(100):
        logits, _ = model(padded[:, :-1], lengths)
        target = padded[:, 1 : logits.size(1) + 1]
        loss = loss_fn(logits.reshape(-1, logits.size(-1)), target.reshape(-1))
        opt.zero_grad()
        loss.backward()
        clip_grad_norm_(model.parameters(), max_norm=1.0)
        opt.step()
        if step % 20 == 0:
            print(step, loss.item(), math.exp(loss.item()))
    with torch.inference_mode():
        probs = torch.softmax(logits[0, -1], dim=-1)
        print(torch.multinomial(probs, num_samples=1).item())


if __name__ == "__main__":
    main()
