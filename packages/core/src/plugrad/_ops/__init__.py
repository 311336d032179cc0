"""Built-in differentiable operations, each a :class:`plugrad.autograd.Function`."""
