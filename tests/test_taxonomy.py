import pytest

from ferlite.core.taxonomy import EMOTIONS, PRESETS, canonical, parse_classes, subset_columns


def test_aliases_map_dataset_names_to_one_taxonomy():
    assert canonical("anger") == "angry"
    assert canonical("Happiness") == "happy"
    assert canonical("sadness") == "sad"
    assert canonical(" Surprised ") == "surprise"
    assert canonical("neutral") == "neutral"
    assert set(PRESETS["ferplus8"]) == set(EMOTIONS)


def test_reference_five_class_preset():
    assert parse_classes("ref5") == ("angry", "happy", "neutral", "sad", "surprise")


def test_comma_list_keeps_order_and_canonicalises():
    assert parse_classes("happiness,anger") == ("happy", "angry")
    assert parse_classes(None) is None


@pytest.mark.parametrize("spec", ["happy,joy", "boredom"])
def test_bad_class_lists_are_rejected(spec):
    with pytest.raises(ValueError):
        parse_classes(spec)


def test_classes_must_exist_in_dataset():
    with pytest.raises(ValueError, match="contempt"):
        parse_classes("happy,contempt", available=PRESETS["fer7"])


def test_subset_columns_pick_the_model_outputs_of_a_smaller_task():
    cols = subset_columns(PRESETS["ferplus8"], PRESETS["ref5"])
    assert [PRESETS["ferplus8"][c] for c in cols] == list(PRESETS["ref5"])
    assert subset_columns(PRESETS["fer7"], PRESETS["fer7"]) == list(range(7))
    with pytest.raises(ValueError, match="contempt are not among the model's classes"):
        subset_columns(PRESETS["fer7"], ("happy", "contempt"))
