"""A physics-informed network solving u'' = -pi^2 sin(pi x) on [0, 1] with u(0) = u(1) = 0."""

import math

import torch


def net(width=32):
    return torch.nn.Sequential(
        torch.nn.Linear(1, width),
        torch.nn.Tanh(),
        torch.nn.Linear(width, width),
        torch.nn.Tanh(),
        torch.nn.Linear(width, 1),
    )


def residual(model, x):
    x = x.clone().requires_grad_(True)
    u = model(x)
    du = torch.autograd.grad(u, x, grad_outputs=torch.ones_like(u), create_graph=True)[0]
    d2u = torch.autograd.grad(du, x, grad_outputs=torch.ones_like(du), create_graph=True)[0]
    return d2u + math.pi**2 * torch.sin(math.pi * x)


def main():
    torch.manual_seed(0)
    model = net().double()
    x = torch.linspace(0, 1, 64, dtype=torch.float64).unsqueeze(1)
    boundary = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    adam = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(500):
        adam.zero_grad()
        loss = residual(model, x).pow(2).mean() + model(boundary).pow(2).mean()
        loss.backward()
        adam.step()
    lbfgs = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=50, line_search_fn="strong_wolfe")

    def closure():
        lbfgs.zero_grad()
        loss = residual(model, x).pow(2).mean() + model(boundary).pow(2).mean()
        loss.backward()
        return loss

    lbfgs.step(closure)
    with torch.no_grad():
        err = (model(x) - torch.sin(math.pi * x)).abs().max()
    print(f"max error {err.item():.2e}")
    torch.save(model, "pinn_model.pt")


if __name__ == "__main__":
    main()
