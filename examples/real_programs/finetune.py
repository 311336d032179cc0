"""Fine-tuning a classifier from a checkpoint: frozen backbone, parameter groups, warmup, evaluation."""

import os

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def backbone():
    return nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU())


class Classifier(nn.Module):
    def __init__(self, n_classes):
        super().__init__()
        self.backbone = backbone()
        self.head = nn.Linear(64, n_classes)

    def forward(self, x):
        return self.head(self.backbone(x))


def accuracy(logits, target, topk=(1,)):
    maxk = max(topk)
    _, pred = logits.topk(maxk, 1, True, True)
    correct = pred.t().eq(target.view(1, -1).expand_as(pred.t()))
    return [correct[:k].reshape(-1).float().sum(0).mul_(100.0 / target.size(0)) for k in topk]


def main():
    torch.manual_seed(0)
    if os.path.exists("pretrained.pt"):
        state = torch.load("pretrained.pt", map_location="cpu", weights_only=True)
    else:
        state = backbone().state_dict()
    model = Classifier(5)
    missing, unexpected = model.backbone.load_state_dict(state, strict=False)
    for p in model.backbone.parameters():
        p.requires_grad_(False)
    model.backbone[2].weight.requires_grad = True
    optimizer = torch.optim.AdamW(
        [
            {"params": model.head.parameters(), "lr": 1e-3},
            {"params": [p for p in model.backbone.parameters() if p.requires_grad], "lr": 1e-4},
        ],
        weight_decay=0.01,
    )
    warmup = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / 10))
    data = TensorDataset(torch.randn(256, 16), torch.randint(0, 5, (256,)))
    loader = DataLoader(data, batch_size=32, shuffle=True, pin_memory=torch.cuda.is_available())
    criterion = nn.CrossEntropyLoss()
    for epoch in range(3):
        model.train()
        for x, y in loader:
            loss = criterion(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            warmup.step()
        model.eval()
        with torch.no_grad():
            x, y = data.tensors
            top1, top3 = accuracy(model(x), y, topk=(1, 3))
        print(epoch, loss.item(), top1.item(), top3.item())
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print("trainable parameters:", n_trainable, "missing:", missing, "unexpected:", unexpected)
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, "finetuned.pt")


if __name__ == "__main__":
    main()
