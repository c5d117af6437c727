"""``options`` shows each option's default, type, choices and the one-line help of its field comment."""
import re
from dataclasses import dataclass
from typing import Literal, Optional

from benchmark.cli import main
from benchmark.train.option_help import describe_type, field_comments, option_rows


@dataclass
class Base:
    a: int = 1                      # the a help
    b: str = "x"                    # the b help
    c: float = 0.5


@dataclass
class Child(Base):
    a: int = 2
    b: str = "y"                    # b, redefined
    d: Literal["p", "q"] = "p"      # a choice


@dataclass
class Continued:
    a: int = 1                      # a help that goes on
                                    # over a second line (0 = off)
    # --- a section comment, not part of a's help
    b: int = 2                      # b help


def test_a_help_comment_continued_on_comment_lines_is_read_whole():
    """`run --help` used to cut such helps mid-sentence ("--fuse-iterations ... (0 = auto, see")."""
    assert field_comments(Continued) == {"a": "a help that goes on over a second line (0 = off)", "b": "b help"}


def test_field_comments_are_inherited_and_overridden():
    assert field_comments(Child) == {"a": "the a help", "b": "b, redefined", "d": "a choice"}
    assert field_comments(Base) == {"a": "the a help", "b": "the b help"}


def test_describe_type():
    assert describe_type(Literal["p", "q"]) == ("choice", ("p", "q"))
    assert describe_type(Optional[float]) == ("float or None", ())
    assert describe_type(int) == ("int", ())


def option_line(out: str, name: str) -> str:
    table = out.split("\n\n")[0]                      # the rows; the default sweep's section follows a blank line
    lines = [line for line in table.splitlines() if re.search(rf"--{name}\s", line)]
    assert len(lines) == 1, out
    return lines[0]


def test_options_shows_the_chosen_variant_and_data_with_types_choices_and_help(capsys):
    assert main(["options", "--variant", "wgan_gp", "--data", "digits"]) == 0
    out = capsys.readouterr().out
    assert option_line(out, "variant").split()[:3] == ["run", "--variant", "wgan_gp"]
    assert option_line(out, "data").split()[:3] == ["run", "--data", "digits"]
    assert "{auto,online,offline,disabled}" in option_line(out, "wandb")
    assert "{auto,on,off}" in option_line(out, "progress")
    gp = option_line(out, "gp-weight")
    assert gp.split()[:4] == ["wgan_gp", "--gp-weight", "10.0", "float"] and "λ" in gp
    # wgan_gp redeclares d_norm with its own comment; z_dim's help comes from GANConfig
    d_norm = option_line(out, "d-norm")
    assert d_norm.split()[2:4] == ["layer", "{none,batch,layer,spectral}"] and "batch norm" in d_norm
    z_dim = option_line(out, "z-dim")                  # None: the architecture's size (100 for dcgan)
    assert z_dim.split()[2:5] == ["None", "int", "or"] and "latent size, z ~ N(0, I)" in z_dim and "100" in z_dim
    assert option_line(out, "stop-d-above").split()[2:5] == ["None", "float", "or"]
    assert option_line(out, "batch-size").split()[:4] == ["digits", "--batch-size", "128", "int"]


def test_option_rows_cover_every_field_once():
    rows = option_rows("nsgan", "ring8")
    names = [r.name for r in rows]
    assert len(names) == len(set(names)) and {"variant", "lr_g", "progress", "batch_size"} <= set(names)
    assert all(r.help for r in rows if r.name in ("metrics", "z_dim", "log_every", "progress"))


def test_options_unknown_variant_is_a_usage_error(capsys):
    assert main(["options", "--variant", "nosuchgan"]) == 2
    assert "nosuchgan" in capsys.readouterr().err


def test_options_and_run_help_show_the_default_sweeps_recipe_for_the_cell(capsys):
    """`options` (and `run --help`) say which defaults the default sweep's cell replaces, its tuned recipe's values
    marked `recipe`, and the run command that reproduces one of its runs."""
    import yaml

    from benchmark.train.sweep import DEFAULT_SWEEP

    recipe = yaml.safe_load((DEFAULT_SWEEP.parent / "recipes.yaml").read_text())["wgan_gp"]["digits"]["options"]
    assert main(["options", "--variant", "wgan-gp", "--data", "digits"]) == 0
    out = capsys.readouterr().out
    section = out.split("\n\n", 1)[1]
    assert "the default sweep" in section and "replaces these defaults for wgan_gp on digits" in section
    for k, v in recipe.items():
        line = [x for x in section.splitlines()
                if x.startswith("  ") and re.search(rf"--{k.replace('_', '-')}\s", x)]
        assert len(line) == 1 and line[0].split()[:3] == ["recipe", f"--{k.replace('_', '-')}", str(v)], section
    assert option_line(out, "gp-weight").split()[2] == "10.0" and "(default 10.0)" in section
    command = [x for x in section.splitlines() if x.startswith("a run of that cell:")][0]
    assert "--variant wgan_gp --data digits" in command and f"--lr-g {recipe['lr_g']}" in command
    try:
        main(["run", "--variant", "wgan_gp", "--data", "digits", "--help"])
    except SystemExit as e:
        assert e.code == 0
    assert section.strip() in capsys.readouterr().out
    assert main(["options", "--variant", "nsgan", "--data", "cifar10"]) == 0
    assert "the default sweep does not run nsgan on cifar10" in capsys.readouterr().out
