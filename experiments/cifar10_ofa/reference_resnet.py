"""How accurate can a network get on this CIFAR-10 copy? A CIFAR ResNet-18 as a yardstick.

The accuracy targets of the supernet (max >= 92 %, min >= 88 %) were set for CIFAR-10; ours is the
JPEG copy (quality 75, chroma subsampled). A ResNet-18 in its usual CIFAR form (3x3 stem at stride 1,
no max-pool; 11 M parameters, 0.56 GMACs) reaches about 95 % on the original files with crop + flip
and a long cosine schedule. Trained here with the supernet's data pipeline (the same decoded images,
GPU crop/flip/Cutout, label smoothing, SGD with Nesterov, cosine), its top-1 tells how much of the gap
is the data and how much the architecture or recipe.

    python experiments/cifar10_ofa/reference_resnet.py --epochs 60 --out runs/resnet18_60.json

With ``--student max --teacher-epochs N`` it first trains the ResNet-18 for N epochs, then the search
space's largest arch alone for ``--epochs`` with knowledge distillation from it (the supernet's loss:
cross-entropy with label smoothing plus ``--kd-weight`` x cross-entropy against the teacher's
softmax); ``--student max`` without a teacher is the same arch trained alone, the baseline.

Prints one line per epoch (loss, images/s, top-1 every ``--eval-every`` epochs) and writes a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from nasedge.data import DataConfig, load_dataset
from nasedge.data.augment import cutout, normalize, random_crop_flip
from nasedge.supernet.accuracy import top1


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


def resnet18(num_classes: int = 10) -> nn.Module:
    layers: list[nn.Module] = [nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU()]
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, num_classes)]
    return nn.Sequential(*layers)


def train_model(model: nn.Module, train, test, data: DataConfig, args, epochs: int,
                teacher: nn.Module | None = None, tag: str = "") -> list[dict]:
    """SGD with Nesterov, cosine with linear warm-up, the supernet's GPU augmentation; history per epoch."""
    device = train.images.device
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]  # BatchNorm and biases
    opt = torch.optim.SGD([{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0}],
                          lr=args.lr, momentum=0.9, nesterov=True)
    steps_per_epoch = len(train) // args.batch_size
    total, warmup = epochs * steps_per_epoch, args.warmup_epochs * steps_per_epoch

    def lr_at(step: int) -> float:
        if step < warmup:
            return args.lr * (step + 1) / warmup
        return 0.5 * args.lr * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    g = torch.Generator(device=device).manual_seed(args.seed)
    history, step = [], 0
    for epoch in range(1, epochs + 1):
        perm = torch.randperm(len(train), generator=g, device=device)
        t, loss_sum = time.time(), 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * args.batch_size:(i + 1) * args.batch_size]
            x = normalize(random_crop_flip(train.images[idx], 4, g), data.mean, data.std)
            x = cutout(x, args.cutout, g).contiguous(memory_format=torch.channels_last)
            for group in opt.param_groups:
                group["lr"] = lr_at(step)
            with torch.autocast("cuda", torch.bfloat16, enabled=device.type == "cuda"):
                logits = model(x)
                loss = F.cross_entropy(logits, train.labels[idx], label_smoothing=args.label_smoothing)
                if teacher is not None:
                    with torch.no_grad():
                        soft = F.softmax(teacher(x).float(), dim=1)
                    loss = loss + args.kd_weight * -(soft * F.log_softmax(logits.float(), dim=1)).sum(1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += float(loss.detach()) if i % 20 == 0 else 0.0
            step += 1
        if device.type == "cuda":
            torch.cuda.synchronize()
        row = {"epoch": epoch, "loss": loss_sum / math.ceil(steps_per_epoch / 20),
               "images_per_s": steps_per_epoch * args.batch_size / (time.time() - t)}
        if epoch % args.eval_every == 0 or epoch == epochs:
            row["top1"] = top1(model, test, data, data.image_size, amp=True)  # running BN statistics
            model.train()
        history.append(row)
        print(json.dumps({"model": tag, **row}), flush=True)
    return history


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.environ.get("NASEDGE_CIFAR10", "../shared/datasets/cifar10-jpeg.npz"))
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--lr", type=float, default=0.4)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--cutout", type=int, default=16)
    p.add_argument("--warmup-epochs", type=float, default=2)
    p.add_argument("--eval-every", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--student", choices=("resnet18", "max"), default="resnet18")
    p.add_argument("--teacher-epochs", type=int, default=0, help="> 0: distil --student max from a ResNet-18 "
                   "trained this long first")
    p.add_argument("--kd-weight", type=float, default=1.0)
    p.add_argument("--limit", type=int, help="only N training and N test images (smoke runs)")
    p.add_argument("--out", type=Path)
    args = p.parse_args()

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(args.seed)
    data = DataConfig(path=args.data, limit_train=args.limit, limit_test=args.limit)
    train, test = (s.to(device) for s in load_dataset(data))
    t_start = time.time()
    result: dict = {"args": {k: str(v) for k, v in vars(args).items()}}
    teacher = None
    if args.student == "resnet18" or args.teacher_epochs > 0:
        model = resnet18(len(train.classes)).to(device).to(memory_format=torch.channels_last)
        epochs = args.epochs if args.student == "resnet18" else args.teacher_epochs
        history = train_model(model, train, test, data, args, epochs, tag="resnet18")
        result.update(model="resnet18 (CIFAR form)", top1=history[-1]["top1"], history=history)
        teacher = model.eval()
    if args.student == "max":
        from nasedge.nn.mobilenetv3 import build_mobilenetv3, init_weights
        from nasedge.spaces import get_space

        space = get_space("ofa_mbv3_cifar")
        torch.manual_seed(args.seed)
        student = build_mobilenetv3(space.max_arch(), space)
        init_weights(student)
        student = student.to(device).to(memory_format=torch.channels_last)
        history = train_model(student, train, test, data, args, args.epochs, teacher=teacher, tag="max")
        if teacher is not None:
            result["teacher"] = {"model": "resnet18", "epochs": args.teacher_epochs, "top1": result.pop("top1"),
                                 "history": result.pop("history")}
        result.update(model="largest arch of ofa_mbv3_cifar" + (" with KD" if teacher is not None else ""),
                      top1=history[-1]["top1"], history=history)
    result["minutes"] = (time.time() - t_start) / 60
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{result['model']}: top-1 {result['top1']:.2f} after {args.epochs} epochs, {result['minutes']:.1f} min")


if __name__ == "__main__":
    main()
