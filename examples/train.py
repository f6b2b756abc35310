"""A small, real training: logistic regression by gradient descent on a
synthetic two-class data set, standard library only.

Logs loss and accuracy per epoch with the `gitml` helper, and writes the
trained weights to the run's outputs folder.

    git ml run -- python examples/train.py --epochs 40 --lr 0.2
"""
import argparse
import json
import math
import os
import random

import gitml


def make_data(n, seed):
    rng = random.Random(seed)
    data = []
    for _ in range(n):
        label = rng.random() < 0.5
        # Two overlapping clouds away from the origin: the bias has to be learnt too.
        cx, cy = (3.0, 2.5) if label else (1.5, 1.0)
        data.append(((rng.gauss(cx, 0.9), rng.gauss(cy, 0.9)), 1.0 if label else 0.0))
    return data


def predict(w, b, x):
    z = w[0] * x[0] + w[1] * x[1] + b
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


def evaluate(w, b, data):
    loss = 0.0
    correct = 0
    for x, y in data:
        p = min(max(predict(w, b, x), 1e-12), 1 - 1e-12)
        loss -= y * math.log(p) + (1 - y) * math.log(1 - p)
        correct += (p >= 0.5) == (y == 1.0)
    return loss / len(data), correct / len(data)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    gitml.log_params({"lr": args.lr, "seed": args.seed})

    train, valid = make_data(800, args.seed), make_data(200, args.seed + 1)
    w, b = [0.0, 0.0], 0.0
    for epoch in range(args.epochs):
        gw, gb = [0.0, 0.0], 0.0
        for x, y in train:
            err = predict(w, b, x) - y
            gw[0] += err * x[0]
            gw[1] += err * x[1]
            gb += err
        w = [w[0] - args.lr * gw[0] / len(train), w[1] - args.lr * gw[1] / len(train)]
        b -= args.lr * gb / len(train)
        train_loss, _ = evaluate(w, b, train)
        val_loss, val_acc = evaluate(w, b, valid)
        gitml.log_metrics({"train_loss": train_loss, "val_loss": val_loss, "val_acc": val_acc}, step=epoch)
        if epoch % 10 == 0 or epoch == args.epochs - 1:
            print(f"epoch {epoch:3d}  train_loss {train_loss:.4f}  val_loss {val_loss:.4f}  val_acc {val_acc:.3f}")

    with open(os.path.join(gitml.outputs_dir(), "model.json"), "w") as f:
        json.dump({"weights": w, "bias": b, "epochs": args.epochs}, f, indent=2)
    print("saved model.json")


if __name__ == "__main__":
    main()
