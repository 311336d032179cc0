"""A Transformer sequence-to-sequence model with positional encoding and masks (a translation tutorial's shape)."""

import math

import torch
import torch.nn as nn
from torch import Tensor

PAD, BOS, EOS = 0, 1, 2


class PositionalEncoding(nn.Module):
    def __init__(self, d_model, dropout=0.1, maxlen=64):
        super().__init__()
        den = torch.exp(-torch.arange(0, d_model, 2) * math.log(10000) / d_model)
        pos = torch.arange(0, maxlen).reshape(maxlen, 1)
        pe = torch.zeros((maxlen, d_model))
        pe[:, 0::2] = torch.sin(pos * den)
        pe[:, 1::2] = torch.cos(pos * den)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("pe", pe.unsqueeze(-2))

    def forward(self, x: Tensor):
        return self.dropout(x + self.pe[: x.size(0), :])


class Seq2Seq(nn.Module):
    def __init__(self, vocab, d_model=32, nhead=4, layers=2):
        super().__init__()
        self.transformer = nn.Transformer(d_model, nhead, layers, layers, dim_feedforward=64, dropout=0.1)
        self.src_emb = nn.Embedding(vocab, d_model)
        self.tgt_emb = nn.Embedding(vocab, d_model)
        self.pos = PositionalEncoding(d_model)
        self.out = nn.Linear(d_model, vocab)
        self.scale = math.sqrt(d_model)

    def forward(self, src, tgt, tgt_mask, src_pad, tgt_pad):
        s = self.pos(self.src_emb(src) * self.scale)
        t = self.pos(self.tgt_emb(tgt) * self.scale)
        h = self.transformer(
            s,
            t,
            tgt_mask=tgt_mask,
            src_key_padding_mask=src_pad,
            tgt_key_padding_mask=tgt_pad,
            memory_key_padding_mask=src_pad,
        )
        return self.out(h)


def main():
    torch.manual_seed(0)
    vocab = 20
    model = Seq2Seq(vocab)
    for p in model.parameters():
        if p.dim() > 1:
            nn.init.xavier_uniform_(p)
    src = torch.randint(3, vocab, (7, 16))
    tgt = torch.cat([torch.full((1, 16), BOS), src.flip(0), torch.full((1, 16), EOS)])
    loss_fn = nn.CrossEntropyLoss(ignore_index=PAD)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.98), eps=1e-9)
    for step in range(10):
        tgt_in, tgt_out = tgt[:-1], tgt[1:]
        mask = nn.Transformer.generate_square_subsequent_mask(tgt_in.size(0))
        logits = model(src, tgt_in, mask, (src == PAD).transpose(0, 1), (tgt_in == PAD).transpose(0, 1))
        loss = loss_fn(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        print(step, loss.item())


if __name__ == "__main__":
    main()
