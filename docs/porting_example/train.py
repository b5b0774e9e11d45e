# A small PyTorch training script, the "before" of the section "A port, line by line" in
# docs/pytorch_differences.md. Its gradlab port is train.cpp, line by line. Regenerate the
# committed output with
#   /usr/bin/python3 docs/porting_example/train.py > docs/porting_example/pytorch_output.txt
# The data and the first weights are formulas, not random draws, so both programs start from the
# same numbers; everything is float64, so the two outputs agree to ~1e-12.
import math
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
N, D, H, C, B = 64, 5, 8, 3, 16

X = torch.tensor([[math.sin(0.7 * i + 1.3 * j) for j in range(D)] for i in range(N)])
y = X[:, :C].argmax(dim=1)                          # the class is the largest of 3 features
W1 = torch.tensor([[0.3 * math.cos(i + 2 * j) for j in range(H)] for i in range(D)], requires_grad=True)
b1 = torch.zeros(H, requires_grad=True)
W2 = torch.tensor([[0.3 * math.sin(2 * i - j) for j in range(C)] for i in range(H)], requires_grad=True)
b2 = torch.zeros(C, requires_grad=True)
optimizer = torch.optim.AdamW([W1, b1, W2, b2], lr=0.05, weight_decay=0.1)

for step in range(1, 25):
    start = ((step - 1) * B) % N
    xb = X[start:start + B]                         # slicing a batch
    yb = y[start:start + B]
    h = torch.clamp(xb @ W1 + b1, min=0.0)          # ReLU written as a clamp
    scores = h @ W2 + b2
    loss = F.cross_entropy(scores, yb)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if step == 12:                                  # reset the head in place, outside the graph
        with torch.no_grad():
            b2.zero_()
            W2.mul_(0.5)
    print(f"step {step:2d}  loss {loss.item():.15f}")

with torch.no_grad():
    accuracy = ((torch.clamp(X @ W1 + b1, min=0.0) @ W2 + b2).argmax(dim=1) == y).double().mean()
print(f"accuracy {accuracy.item():.15f}")
