"""Draw the static figures of the course into assets/figures/ (run: python scripts/make_figures.py).

Figures produced by a lesson's own code are written by that notebook (in full mode); this script
makes the ones that are diagrams rather than results.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "assets" / "figures"

# (x, y, text, colour): the taxonomy of generative models, with the lesson for each family
BOXES = [
    (0.50, 0.90, "Generative models\nfit $p_\\theta(x)$ to samples of $p_{data}(x)$", "#dddddd"),
    (0.26, 0.68, "Explicit density\n$\\log p_\\theta(x)$ can be written down", "#c6dbef"),
    (0.74, 0.68, "Implicit density\nonly a sampler $x = G_\\theta(z)$", "#fdd0a2"),
    (0.02, 0.42, "Tractable\n(exact likelihood)", "#9ecae1"),
    (0.26, 0.42, "Approximate\n(a bound on it)", "#9ecae1"),
    (0.50, 0.42, "Unnormalised\n(a score, $Z_\\theta$ unknown)", "#9ecae1"),
    (0.74, 0.42, "Adversarial\n(a critic compares)", "#fdae6b"),
    (0.98, 0.68, "No density: predicts\nthe hidden pixels $E[x_h \\mid x_v]$", "#d9d9d9"),
    (
        0.02,
        0.13,
        "01–04 Gaussian, histogram,\nKDE, mixtures (EM)\n07 autoregressive\n11 normalizing flows",
        "#deebf7",
    ),
    (0.26, 0.13, "08 VAE (ELBO)\n12 diffusion", "#deebf7"),
    (0.50, 0.13, "05 naive density:\na CNN score\nagainst negatives", "#deebf7"),
    (0.74, 0.13, "09 GAN\n10 Wasserstein GAN\n(optimal transport)", "#fee6ce"),
    (0.98, 0.13, "06 RLUD inpainting:\nfills a hole\nfrom its border", "#f0f0f0"),
]
EDGES = [(0, 1), (0, 2), (0, 7), (1, 3), (1, 4), (1, 5), (2, 6), (3, 8), (4, 9), (5, 10), (6, 11), (7, 12)]


def model_map(path: Path) -> None:
    fig, ax = plt.subplots(figsize=(12.5, 6.2))
    ax.set_xlim(-0.12, 1.12)
    ax.set_ylim(-0.02, 1.0)
    ax.axis("off")
    for a, b in EDGES:
        (x0, y0, *_), (x1, y1, *_) = BOXES[a], BOXES[b]
        ax.annotate(
            "",
            xy=(x1, y1 + 0.07),
            xytext=(x0, y0 - 0.07),
            arrowprops={"arrowstyle": "->", "color": "#555555", "lw": 1.2},
        )
    for x, y, text, colour in BOXES:
        ax.text(
            x,
            y,
            text,
            ha="center",
            va="center",
            fontsize=10.5,
            bbox={"boxstyle": "round,pad=0.5", "fc": colour, "ec": "#444444"},
        )
    ax.set_title(
        "The map of the course: how each family of models gets at $p(x)$", fontsize=13, weight="bold"
    )
    ax.text(0.5, -0.02, "13 compares every model on the same data", ha="center", fontsize=10, style="italic")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    FIGURES.mkdir(parents=True, exist_ok=True)
    model_map(FIGURES / "00_model_map.png")
    print(f"wrote {FIGURES / '00_model_map.png'}")


if __name__ == "__main__":
    main()
