"""Tests for harness.templates: loading, checking, rendering and hashing prompts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.data import open_dataset
from harness.errors import ConfigError
from harness.item import Item
from harness.templates import PromptTemplate

ITEM = Item(
    id="q1",
    input="What is 2 + 2?",
    references=("4", "four"),
    context="Two and two make four.",
    metadata={"category": "arithmetic", "level": 1, "tags": ["easy", "math"], "note": None},
    row=7,
)


def user(messages: tuple[dict[str, str], ...]) -> str:
    assert messages[-1]["role"] == "user"
    return messages[-1]["content"]


def test_default_template_is_the_input() -> None:
    template = PromptTemplate.load(None)
    assert (template.prompt, template.system, template.source) == ("{{input}}", None, "default")
    assert template.render(ITEM) == ({"role": "user", "content": "What is 2 + 2?"},)


def test_default_template_with_a_system_prompt() -> None:
    template = PromptTemplate.load(None, system="Answer in one word.")
    assert template.render(ITEM) == (
        {"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": "What is 2 + 2?"},
    )


def test_inline_template_with_optional_whitespace() -> None:
    template = PromptTemplate.load("Q: {{input}}\nHint: {{ context }} ({{  category  }})")
    assert template.source == "inline"
    assert template.placeholders() == {"input", "context", "category"}
    assert user(template.render(ITEM)) == (
        "Q: What is 2 + 2?\nHint: Two and two make four. (arithmetic)"
    )


def test_lists_numbers_and_nulls_render_as_text() -> None:
    template = PromptTemplate.load(
        "{{references}}|{{reference}}|{{tags}}|{{level}}|{{note}}|{{id}}"
    )
    assert user(template.render(ITEM)) == "4\nfour|4|easy\nmath|1||q1"


def test_single_braces_are_literal() -> None:
    text = 'Reply as JSON like {"answer": "...", "sure": true}.\n{{input}}\n{not a placeholder}'
    rendered = user(PromptTemplate.load(text).render(ITEM))
    assert rendered.startswith('Reply as JSON like {"answer": "...", "sure": true}.')
    assert rendered.endswith("What is 2 + 2?\n{not a placeholder}")
    assert PromptTemplate.load(text).placeholders() == {"input"}


def test_values_are_not_expanded_again() -> None:
    tricky = Item(id="x", input="Say {{context}} literally", context="SECRET")
    template = PromptTemplate.load("{{input}} / {{context}}")
    assert user(template.render(tricky)) == "Say {{context}} literally / SECRET"


def test_placeholder_with_spaces_in_a_column_name() -> None:
    item = Item(id="x", input="q", metadata={"Best Answer": "Nothing"})
    template = PromptTemplate.load("{{input}} -> {{ Best Answer }}")
    assert template.placeholders() == {"input", "Best Answer"}
    assert user(template.render(item)) == "q -> Nothing"


def test_yaml_file_with_system_and_prompt(tmp_path: Path) -> None:
    path = tmp_path / "qa.yaml"
    path.write_text(
        "name: short-answer\n"
        "system: You answer briefly.\n"
        "prompt: |\n"
        "  Question: {{input}}\n"
        "  Answer:\n"
    )
    template = PromptTemplate.load(str(path))
    assert template.source == str(path)
    assert template.system == "You answer briefly."
    assert template.prompt == "Question: {{input}}\nAnswer:"
    assert template.render(ITEM) == (
        {"role": "system", "content": "You answer briefly."},
        {"role": "user", "content": "Question: What is 2 + 2?\nAnswer:"},
    )
    overridden = PromptTemplate.load(str(path), system="Be verbose.")
    assert overridden.system == "Be verbose."
    assert overridden.prompt == template.prompt


def test_text_file_is_the_whole_prompt(tmp_path: Path) -> None:
    path = tmp_path / "prompt.txt"
    path.write_text('Use {"braces"} freely.\r\n\r\n{{input}}\r\n')
    template = PromptTemplate.load(str(path))
    assert template.prompt == 'Use {"braces"} freely.\n\n{{input}}'
    assert template.system is None
    assert template.hash == PromptTemplate.load('Use {"braces"} freely.\n\n{{input}}').hash


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("system: hello\n", "needs a 'prompt' key"),
        ("prompt: [1, 2]\n", "needs a 'prompt' key"),
        ("- just a list\n", "needs a 'prompt' key"),
        ("prompt: '{{input}}'\nsytem: typo\n", "unknown key 'sytem'"),
        ("prompt: '{{input}}'\nsystem: [1]\n", "'system' must be text"),
        ("prompt: {{input}\n", "not valid YAML"),
    ],
)
def test_bad_yaml_files_name_the_file(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(content)
    with pytest.raises(ConfigError) as err:
        PromptTemplate.load(str(path))
    assert str(path) in str(err.value)
    assert problem in str(err.value)


def test_a_yaml_syntax_error_is_one_line_with_its_place(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text('prompt: "{{input}\n')
    with pytest.raises(ConfigError) as err:
        PromptTemplate.load(str(path))
    assert str(err.value) == (
        f"template file {path} is not valid YAML at line 2, column 1: "
        "found unexpected end of stream"
    )


def test_unreadable_and_empty_files(tmp_path: Path) -> None:
    binary = tmp_path / "prompt.txt"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ConfigError, match="cannot read template file"):
        PromptTemplate.load(str(binary))
    empty = tmp_path / "empty.md"
    empty.write_text("\n")
    with pytest.raises(ConfigError, match="is empty"):
        PromptTemplate.load(str(empty))


@pytest.mark.parametrize("name", ["prompts/qa.yaml", "missing.txt", "tmpl.j2", "dir/prompt"])
def test_missing_template_file(name: str) -> None:
    with pytest.raises(ConfigError, match=f"template file not found: {name}"):
        PromptTemplate.load(name)


def test_text_without_placeholders_is_rejected(tmp_path: Path) -> None:
    for text in ("Answer briefly.", "Answer yes/no."):
        with pytest.raises(ConfigError, match="neither a file nor a template"):
            PromptTemplate.load(text)
    fixed = tmp_path / "fixed.txt"
    fixed.write_text("Always the same prompt.")
    with pytest.raises(ConfigError, match="no placeholders"):
        PromptTemplate.load(str(fixed))


def test_check_names_the_unknown_placeholder_and_the_fields() -> None:
    template = PromptTemplate.load("{{input}} {{ contxt }}", system="{{persona}}")
    fields = ["input", "id", "reference", "references", "category"]
    with pytest.raises(ConfigError) as err:
        template.check(fields)
    message = str(err.value)
    assert "{{contxt}}" in message
    assert "{{persona}}" in message
    assert "available fields: input, id, reference, references, category" in message
    PromptTemplate.load("{{input}} {{category}}").check(fields)


def test_check_against_a_dataset_without_context(tmp_path: Path) -> None:
    path = tmp_path / "qa.jsonl"
    path.write_text(json.dumps({"question": "q", "answer": "a", "topic": "t"}) + "\n")
    data = open_dataset(str(path))
    PromptTemplate.load("{{input}} ({{topic}}) {{reference}}").check(data.fields())
    with pytest.raises(ConfigError, match="context"):
        PromptTemplate.load("{{context}}\n{{input}}").check(data.fields())


def test_render_with_a_missing_field() -> None:
    template = PromptTemplate.load("{{input}} {{difficulty}}")
    with pytest.raises(ConfigError, match=r"\{\{difficulty\}\}.*'q1' \(row 7\)"):
        template.render(ITEM)


def test_hash_depends_on_text_only() -> None:
    a = PromptTemplate.load("Q: {{input}}")
    assert a.hash == PromptTemplate.load("Q: {{input}}").hash
    assert a.hash == PromptTemplate("Q: {{input}}", source="elsewhere.txt").hash
    assert len(a.hash) == 16
    assert int(a.hash, 16) >= 0
    assert a.hash != PromptTemplate.load("Question: {{input}}").hash
    assert a.hash != PromptTemplate.load("Q: {{input}}", system="Be brief.").hash
    assert PromptTemplate.load(None).hash == PromptTemplate.load("{{input}}").hash


def test_to_dict_for_the_run_config() -> None:
    template = PromptTemplate.load("Q: {{input}}", system="Be brief.")
    assert template.to_dict() == {
        "prompt": "Q: {{input}}",
        "system": "Be brief.",
        "source": "inline",
        "hash": template.hash,
    }
    json.dumps(template.to_dict())


def test_any_column_name_is_a_placeholder_and_filters_are_refused() -> None:
    template = PromptTemplate.load("{{input}} | {{answer.text}} | {{1st_hint}} | {{Étape}}")
    assert template.placeholders() == {"input", "answer.text", "1st_hint", "Étape"}
    item = Item("a", "q1", metadata={"answer.text": "x", "1st_hint": "h", "Étape": "é"})
    assert template.render(item)[-1]["content"] == "q1 | x | h | é"
    with pytest.raises(ConfigError, match=r"unknown placeholder \{\{input \| upper\}\}"):
        PromptTemplate.load("{{ input | upper }}").check(["input"])


def test_a_long_inline_template_is_not_taken_for_a_file_name() -> None:
    text = "Answer briefly and precisely. " * 12 + "{{input}}"
    assert PromptTemplate.load(text).render(Item("a", "q"))[-1]["content"].endswith("q")


def test_an_unclosed_placeholder_is_named() -> None:
    with pytest.raises(ConfigError, match=r"'\{\{' that no '\}\}' closes, near '\{\{input\}'"):
        PromptTemplate.load("Q: {{input}")
    with pytest.raises(ConfigError, match="closes"):
        PromptTemplate.load("{{input}}", system="Be brief {{ style")
    made = PromptTemplate.load('Q: {{input}} as JSON: {"a": {"b": 1}}')
    assert made.placeholders() == {"input"}
