"""``PinEntry`` driven headlessly: through ``submit(text)`` and through the comm message a
browser sends (``_handle_custom_msg`` is where the kernel delivers it)."""

from __future__ import annotations

import json

import pytest

from verigator_nb.widgets import PinEntry


@pytest.fixture
def pin() -> PinEntry:
    return PinEntry()


@pytest.fixture
def received(pin: PinEntry) -> list[str]:
    got: list[str] = []
    pin.on_submit(got.append)
    return got


def _from_browser(pin: PinEntry, content: object) -> None:
    pin._handle_custom_msg(content, [])


def test_submit_hands_the_text_to_every_callback_in_order(pin, received) -> None:
    later: list[str] = []
    pin.on_submit(later.append)
    assert pin.submit("123456") is True
    assert pin.submit("000042") is True
    assert received == ["123456", "000042"] and later == ["123456", "000042"]


def test_a_browser_submit_delivers_the_value_it_carries(pin, received) -> None:
    _from_browser(pin, {"event": "submit", "value": "123456"})
    _from_browser(pin, {"event": "submit", "value": "0"})
    _from_browser(pin, {"event": "submit", "value": ""})  # an empty box: the caller decides
    assert received == ["123456", "0", ""]


def test_a_removed_callback_is_not_called(pin, received) -> None:
    pin.on_submit(received.append, remove=True)
    pin.submit("123456")
    assert received == []


@pytest.mark.parametrize(
    "content",
    [
        pytest.param({"event": "submit"}, id="no-value"),
        pytest.param({"event": "submit", "value": 123456}, id="int-value"),
        pytest.param({"event": "submit", "value": None}, id="null-value"),
        pytest.param({"event": "submit", "value": ["123456"]}, id="list-value"),
        pytest.param({"event": "submit", "value": "1" * 65}, id="too-long"),
        pytest.param({"event": "clear"}, id="other-event"),
        pytest.param({"value": "123456"}, id="no-event"),
        pytest.param({"event": ["submit"], "value": "123456"}, id="list-event"),
        pytest.param(["submit", "123456"], id="list"),
        pytest.param("submit", id="string"),
        pytest.param(None, id="null"),
    ],
)
def test_a_malformed_message_is_ignored_without_raising(pin, received, content) -> None:
    _from_browser(pin, content)
    assert received == []


def test_the_longest_allowed_value_is_delivered(pin, received) -> None:
    _from_browser(pin, {"event": "submit", "value": "1" * PinEntry.max_length})
    assert received == ["1" * PinEntry.max_length]


def test_the_pin_never_reaches_the_widget_state(pin, received) -> None:
    _from_browser(pin, {"event": "submit", "value": "918273"})
    pin.submit("564738")
    state = json.dumps(pin.get_state(), default=str)
    assert received == ["918273", "564738"]
    assert "918273" not in state and "564738" not in state


def test_while_disabled_submits_are_ignored(pin, received) -> None:
    pin.disabled = True
    assert pin.submit("123456") is False
    _from_browser(pin, {"event": "submit", "value": "654321"})
    assert received == []
    pin.disabled = False
    _from_browser(pin, {"event": "submit", "value": "654321"})
    assert received == ["654321"]


def test_disabled_placeholder_and_description_are_synced_to_the_browser() -> None:
    pin = PinEntry(description="Code", placeholder="6 digits", disabled=True)
    state = pin.get_state()
    assert (state["description"], state["placeholder"], state["disabled"]) == (
        "Code",
        "6 digits",
        True,
    )
    assert repr(pin) == "PinEntry(description='Code', disabled=True)"


def test_clear_tells_the_browser_to_empty_the_box(pin, monkeypatch) -> None:
    sent: list[object] = []
    monkeypatch.setattr(pin, "send", sent.append)
    pin.clear()
    assert sent == [{"event": "clear"}]


def test_clear_without_a_front_end_does_not_raise(pin, received) -> None:
    pin.clear()
    pin.submit("123456")
    assert received == ["123456"]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        pytest.param(123456, TypeError, id="int"),
        pytest.param(None, TypeError, id="none"),
        pytest.param("1" * 65, ValueError, id="too-long"),
    ],
)
def test_submit_refuses_text_the_box_could_not_hold(pin, received, text, error) -> None:
    with pytest.raises(error):
        pin.submit(text)
    assert received == []


def test_a_callback_error_from_submit_propagates(pin) -> None:
    def broken(_: str) -> None:
        raise TypeError("bug in the callback")

    pin.on_submit(broken)
    with pytest.raises(TypeError, match="bug in the callback"):
        pin.submit("123456")
