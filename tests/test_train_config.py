"""Training options added for the default model and the eye-state model: TOML configs, EMA, backbone init, CEW."""

import json
from pathlib import Path

import pytest
import torch
from conftest import run_training, train_run

from ferlite.commands import train
from ferlite.core.errors import UsageError
from ferlite.core.taxonomy import PRESETS
from ferlite.data import DataError
from ferlite.models import create_model
from ferlite.models.checkpoint import keep_classes, load_checkpoint, make_checkpoint, save_checkpoint
from ferlite.models.mobilenetv2 import load_imagenet_weights
from ferlite.training.engine import Distiller

pytestmark = pytest.mark.needs_shared


def _args(*argv):
    return train.get_args_parser().parse_args([str(a) for a in argv])


def test_config_fills_defaults_and_the_command_line_wins(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('classes = "fer7"\ninput-size = 112\nlr = 0.01\nepochs = 14\nout = "runs/fer7"\n')
    args = train.parse_args(["--config", str(cfg), "--lr", "0.002"])
    assert args.classes == "fer7" and args.input_size == 112 and args.lr == 0.002
    # A value typed on the command line wins even when it equals the parser's own default (1e-3, 10, runs/train).
    args = train.parse_args(["--config", str(cfg), "--lr", "1e-3", "--epochs", "10", "--out", "runs/train"])
    assert (args.lr, args.epochs, args.out) == (1e-3, 10, "runs/train")


@pytest.mark.parametrize(
    "text, message",
    [
        ("bogus-option = 1\n", "unknown option 'bogus-option'"),
        ("classes = \n", "not a valid TOML"),
        ('epochs = "ten"\n', "option 'epochs' must be an integer, got 'ten'"),
        ("lr = true\n", "option 'lr' must be a number"),
        ("amp = 1\n", "option 'amp' must be true or false"),
        ('opt = "sgd"\n', "option 'opt' must be one of adam, adamw"),
    ],
)
def test_bad_config_names_the_file_and_the_problem(tmp_path, text, message):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    with pytest.raises(UsageError, match=f"bad.toml.*{message}"):
        train.parse_args(["--config", str(cfg)])


def test_a_bad_config_is_one_line_and_exit_2_from_the_command_line(tmp_path, capsys):
    from ferlite.cli import main

    cfg = tmp_path / "bad.toml"
    cfg.write_text('epochs = "ten"\n')
    assert main(["train", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "epochs" in err[0] and "Traceback" not in err[0]


def test_print_config_shows_the_resolved_options_and_reads_back(tmp_path, capsys):
    from ferlite.cli import main

    assert main(["train", "--config", "configs/mixture8_112.toml", "--lr", "1e-3", "--print-config"]) == 0
    text = capsys.readouterr().out
    assert "lr = 0.001" in text and "input-size = 112" in text and 'dataset = "mixture"' in text
    again = tmp_path / "again.toml"
    again.write_text(text)
    a, b = train.parse_args(["--config", str(again)]), train.parse_args(["--config", "configs/mixture8_112.toml", "--lr", "1e-3"])
    assert {k: v for k, v in vars(a).items() if k != "config"} == {k: v for k, v in vars(b).items() if k != "config"}


def test_repository_configs_parse_and_each_has_a_use():
    """configs/ holds the recipes that make the shipped models and the files of models/ (tools/rebuild_models.sh,
    the GPU runs of benchmarks/gpu/README.md) and the federation's: none is a one-off run's, which git history keeps."""
    uses = "".join(
        Path(p).read_text() for p in ("tools/rebuild_models.sh", "benchmarks/gpu/README.md", "Makefile", "docs/FEDERATED.md")
    )
    # configs/federated.toml is ferlite federate's (test_every_recipe_loads checks it)
    recipes = sorted(p for p in Path("configs").glob("*.toml") if not p.name.startswith("federated"))
    assert recipes
    for path in recipes:
        args = train.parse_args(["--config", str(path)])
        assert args.out == f"runs/{path.stem}"  # each config trains into its own folder
        assert f"configs/{path.name}" in uses, f"{path}: no script or guide runs it"


def test_backbone_init_from_a_ferlite_checkpoint_replaces_the_classifier(tmp_path):
    five = create_model("mobilenetv2_fer", num_classes=5, pretrained=False, input_size=64)
    path = tmp_path / "five.pth"
    save_checkpoint(path, make_checkpoint(five, "mobilenetv2_fer", {"input_size": 64}))
    seven = create_model("mobilenetv2_fer", num_classes=7, pretrained=False, input_size=64)
    load_imagenet_weights(seven, path)
    assert torch.equal(seven.features[5].conv[0][0].weight, five.features[5].conv[0][0].weight)
    assert seven.classifier[1].weight.shape[0] == 7


def test_a_seven_class_checkpoint_starts_a_five_class_model_with_the_same_predictions():
    torch.manual_seed(0)
    seven = create_model("mobilenetv2_fer", num_classes=7, pretrained=False, input_size=64).eval()
    seven.spec = seven.spec.with_labels(PRESETS["fer7"])
    torch.nn.init.normal_(seven.classifier[1].bias)  # distinct rows, so a wrong pick changes the logits
    five = create_model("mobilenetv2_fer", num_classes=5, pretrained=False, input_size=64).eval()
    five.load_state_dict(keep_classes(make_checkpoint(seven, "mobilenetv2_fer", {}), PRESETS["ref5"]))
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        expected = seven(x)[:, [0, 3, 6, 4, 5]]  # angry, happy, neutral, sad, surprise among the fer7 outputs
        assert torch.allclose(five(x), expected, atol=1e-5)


def test_a_five_class_checkpoint_starts_a_seven_class_model_keeping_its_five_rows():
    torch.manual_seed(0)
    five = create_model("mobilenetv2_fer", num_classes=5, pretrained=False, input_size=64).eval()
    five.spec = five.spec.with_labels(PRESETS["ref5"])
    torch.nn.init.normal_(five.classifier[1].bias)
    seven = create_model("mobilenetv2_fer", num_classes=7, pretrained=False, input_size=64).eval()
    fresh = {k: v.clone() for k, v in seven.state_dict().items()}
    seven.load_state_dict(keep_classes(make_checkpoint(five, "mobilenetv2_fer", {}), PRESETS["fer7"], new_rows=fresh))
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(seven(x)[:, [0, 3, 6, 4, 5]], five(x), atol=1e-5)  # the five shared classes
    for i in (1, 2):  # disgust and fear: the new model's own rows
        assert torch.equal(seven.classifier[1].weight[i], fresh["classifier.1.weight"][i])
    with pytest.raises(UsageError, match="disgust, fear are not among"):
        keep_classes(make_checkpoint(five, "mobilenetv2_fer", {}), PRESETS["fer7"])  # without new rows: named


def test_init_with_classes_it_does_not_have_is_refused_by_name(tmp_path):
    seven = create_model("cnn_small", num_classes=7, pretrained=False, input_size=24)
    seven.spec = seven.spec.with_labels(PRESETS["fer7"])
    path = tmp_path / "fer7.pth"
    save_checkpoint(path, make_checkpoint(seven, "cnn_small", {"input_size": 24}))
    args = _args(
        "--dataset",
        "cew",
        "--model",
        "cnn_small",
        "--init",
        path,
        "--per-class",
        0,
        "--epochs",
        1,
        "--out",
        tmp_path / "eyes",
        "--no-progress",
        "--workers",
        0,
    )
    with pytest.raises(DataError, match=r"fer7.pth: is cnn_small on angry, .*not on closed, open"):
        run_training(args)


@pytest.mark.slow
def test_eye_state_model_trains_on_cew_with_ema_and_resumes(tmp_path, eyes_run):
    out = tmp_path / "eyes"
    train_run(eyes_run, ema=0.9, epochs=2)
    result = train_run(eyes_run, ema=0.9, epochs=3, resume=True)
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [0, 1, 2]
    assert result["best"]["val_accuracy"] > 0.8  # closed vs open eyes of held-out faces, after 3 short epochs
    assert "ema" in load_checkpoint(out / "last.pth") and load_checkpoint(out / "best.pth")["spec"]["labels"] == [
        "closed",
        "open",
    ]


def test_distiller_loss_is_zero_against_itself_and_resizes_for_the_teacher():
    torch.manual_seed(0)
    teacher = create_model("cnn_small", num_classes=3, pretrained=False, input_size=32).eval()
    distiller = Distiller(teacher, input_size=32, alpha=1.0, temperature=2.0)
    x = torch.randn(4, 3, 24, 24)  # the student's batch, smaller than the teacher's input
    resized = torch.nn.functional.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)
    with torch.no_grad():
        same = teacher(resized)
    assert distiller(x, same, torch.tensor(5.0)).item() == pytest.approx(0.0, abs=1e-6)  # alpha 1: only the KD term
    student = torch.zeros(4, 3, requires_grad=True)
    loss = distiller(x, student, torch.tensor(0.0))
    loss.backward()
    assert loss.item() > 0 and student.grad.abs().sum() > 0
    assert all(p.grad is None for p in teacher.parameters())  # the teacher is frozen


def test_an_ensemble_teacher_averages_its_teachers_probabilities_each_at_its_own_input_size():
    torch.manual_seed(0)
    small = create_model("cnn_small", num_classes=3, pretrained=False, input_size=24).eval()
    large = create_model("cnn_small", num_classes=3, pretrained=False, input_size=32).eval()
    x = torch.randn(4, 3, 24, 24)
    t = 2.0
    with torch.no_grad():
        p_small = torch.softmax(small(x) / t, 1)
        p_large = torch.softmax(large(torch.nn.functional.interpolate(x, size=(32, 32), mode="bilinear")) / t, 1)
    ensemble = Distiller([small, large], [24, 32], alpha=1.0, temperature=t)
    assert torch.allclose(ensemble.teacher_log_probs(x).exp(), (p_small + p_large) / 2, atol=1e-6)
    assert not torch.allclose(p_small, p_large, atol=1e-3)  # two different teachers, so the mean is not either one
    # a student that predicts the mean exactly has nothing left to learn from the ensemble
    student = torch.log((p_small + p_large) / 2) * t
    assert ensemble(x, student, torch.tensor(3.0)).item() == pytest.approx(0.0, abs=1e-5)
    with pytest.raises(ValueError, match="2 teachers but 1 input sizes"):
        Distiller([small, large], [24], alpha=1.0, temperature=t)


@pytest.mark.slow
def test_student_trains_with_a_teacher_and_a_mismatched_teacher_is_refused(tmp_path, eyes_run):
    teacher = tmp_path / "teacher" / "best.pth"
    train_run(eyes_run, epochs=2, out=str(tmp_path / "teacher"))
    result = train_run(eyes_run, epochs=2, out=str(tmp_path / "student"), teacher=str(teacher), distill_alpha=0.7)
    assert result["best"]["val_accuracy"] > 0.8
    assert load_checkpoint(tmp_path / "student" / "best.pth")["args"]["teacher"].endswith("best.pth")
    three = create_model("cnn_small", num_classes=3, pretrained=False, input_size=24)
    three.spec = three.spec.with_labels(("closed", "open", "squint"))
    save_checkpoint(tmp_path / "three.pth", make_checkpoint(three, "cnn_small", {"input_size": 24}))
    with pytest.raises(DataError, match="three.pth.*classes"):
        train_run(eyes_run, out=str(tmp_path / "bad"), teacher=str(tmp_path / "three.pth"))
    # in an ensemble too, each teacher is checked
    with pytest.raises(DataError, match="three.pth.*classes"):
        train_run(eyes_run, out=str(tmp_path / "bad2"), teacher=f"{teacher},{tmp_path / 'three.pth'}")


@pytest.mark.parametrize(
    "command, option, value, message",
    [
        ("watch", "--detect-every", "0", "at least 1"),
        ("watch", "--margin", "-0.1", "0 or more"),
        ("watch", "--threads", "0", "at least 1"),
        ("watch", "--smoothing", "1.5", "above 0 and at most 1"),
        ("watch", "--smoothing", "0", "above 0 and at most 1"),
        ("watch", "--max-frames", "-3", "0 or more"),
        ("predict", "--threads", "two", "not an integer"),
        ("train", "--epochs", "x", "invalid int value"),
    ],
)
def test_an_impossible_option_value_is_one_line_and_exit_2(capsys, command, option, value, message):
    from ferlite.cli import main

    with pytest.raises(SystemExit) as stop:
        main([command, "in.mp4", option, value] if command != "train" else [command, option, value])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and option in err[0] and message in err[0], err


def test_a_checkpoint_without_its_cfg_keys_is_one_clear_error(tmp_path):
    path = tmp_path / "bad.pth"
    torch.save({"arch": "cnn_small", "model": {}, "cfg": {"mean": [0.5] * 3}}, path)
    with pytest.raises(Exception, match="its model spec lacks input_size, std"):
        load_checkpoint(path)


def test_serve_and_predict_refuse_impossible_targets_in_one_line(tmp_path, capsys):
    import socket

    from ferlite.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["serve", "--port", "99999"])
    assert stop.value.code == 2 and "1 to 65535" in capsys.readouterr().err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"cannot listen on 127.0.0.1:{port}" in err[0]
    assert main(["predict", "tests/fixtures/astronaut_nasa_512.png", "--output", str(tmp_path)]) == 2
    assert "--output is a folder" in capsys.readouterr().err


def test_every_option_help_shows_its_default(capsys):
    from ferlite.cli import main

    for command, expected in (
        ("watch", "(default: 0.15)"),
        ("evaluate", "--batch-size BATCH_SIZE (default: 256)"),
        ("train", "(default: 0.001)"),
    ):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert expected in " ".join(capsys.readouterr().out.split()), command


def test_every_recipe_loads():
    from ferlite.training.config import load_config
    from ferlite.training.federated import load_federate_config

    recipes = sorted(Path("configs").glob("*.toml"))
    assert len(recipes) > 6
    for recipe in recipes:  # a renamed option or a wrong type raises, naming the file
        if recipe.name.startswith("federated"):  # ferlite federate's: the federation, and [train] for the clients
            load_federate_config(recipe)[0].check()
        else:
            load_config(recipe)


def test_every_documented_command_line_parses():
    """Each `ferlite ...` line in the README, the model card and docs/ parses with its subcommand's parser today."""
    import re
    import shlex
    from importlib import import_module

    from ferlite.cli import SUBCOMMANDS

    checked = 0
    for doc in [Path("README.md"), Path("MODEL_CARD.md"), *sorted(Path("docs").glob("*.md"))]:
        for block in re.findall(r"```bash\n(.*?)```", doc.read_text(), re.S):
            for line in block.splitlines():
                line = line.split("  #")[0].strip()
                if not line.startswith("ferlite ") or "..." in line:
                    continue
                argv = shlex.split(line)[1:]
                module = import_module(SUBCOMMANDS[argv[0]][0])
                parse = getattr(module, "parse_args", None) or module.get_args_parser().parse_args
                try:
                    parse(argv[1:])
                except SystemExit:
                    pytest.fail(f"{doc}: {line!r} does not parse")
                checked += 1
    assert checked >= 20, checked


def test_training_takes_omp_num_threads_cores_where_it_is_set(tiny_run, monkeypatch):
    """A run took every core even where OMP_NUM_THREADS shared the machine out (two test workers' OpenMP pools then
    spun against each other, 7x slower)."""
    import os

    from ferlite.core.system import compute_threads

    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        train_run(tiny_run)
        assert torch.get_num_threads() == 1
        monkeypatch.setenv("OMP_NUM_THREADS", "3")
        assert compute_threads() == 3
        for unset in ("", "0", "four"):
            monkeypatch.setenv("OMP_NUM_THREADS", unset)
            assert compute_threads() == os.cpu_count()
    finally:
        torch.set_num_threads(before)
