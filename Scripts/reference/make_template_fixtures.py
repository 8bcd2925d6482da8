#!/usr/bin/env python3
"""Golden chat-template renderings for FledgeTemplate.

Renders every template in Tests/FledgeTemplateTests/Fixtures/templates with the Jinja2
environment that transformers builds for `apply_chat_template` (its own
`_compile_jinja_template` and `render_jinja_template`: ImmutableSandboxedEnvironment,
trim_blocks=True, lstrip_blocks=True, loopcontrols, its `tojson`, `raise_exception`,
`strftime_now`, `dict`, `namespace`), for several conversations, and writes

  Fixtures/chat_cases.json      {template, messages, flags, extra} -> expected text or error
  Fixtures/language_cases.json  small templates + context -> expected text or error

The SmolLM2 template is read from the GGUF metadata `tokenizer.chat_template` of
.cache/assets/SmolLM2-135M-Instruct.Q4_1.gguf (when present; otherwise the committed copy is
used). `strftime_now` is pinned to FIXED_NOW so outputs do not depend on the day.

Pinned: Jinja2 3.1.6, transformers 5.23.0, gguf 0.19.0. Run from the repository root:
  /work/venv-ref/bin/python Scripts/reference/make_template_fixtures.py
"""

import datetime as _dt
import json
import pathlib
import sys

import jinja2
import transformers
from transformers.utils import chat_template_utils as ctu

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "Tests" / "FledgeTemplateTests" / "Fixtures"
TEMPLATES = FIXTURES / "templates"
GGUF = ROOT / ".cache" / "assets" / "SmolLM2-135M-Instruct.Q4_1.gguf"
FIXED_NOW = _dt.datetime(2025, 3, 7, 10, 30, 0)


class _FixedDateTime(_dt.datetime):
    @classmethod
    def now(cls, tz=None):
        return FIXED_NOW


# transformers' strftime_now calls `datetime.now()` through this module global.
ctu.datetime = _FixedDateTime


def smollm2_template() -> str:
    path = TEMPLATES / "smollm2-135m-instruct.jinja"
    if GGUF.exists():
        import gguf

        reader = gguf.GGUFReader(str(GGUF))
        field = reader.fields["tokenizer.chat_template"]
        text = bytes(field.parts[field.data[0]]).decode("utf-8")
        path.write_text(text, encoding="utf-8", newline="")
    return path.read_text(encoding="utf-8")


def load_templates() -> dict:
    templates = {"smollm2-135m-instruct": smollm2_template()}
    for path in sorted(TEMPLATES.glob("*.jinja")):
        templates.setdefault(path.stem, path.read_text(encoding="utf-8"))
    return templates


def render(source, messages, add_generation_prompt, bos, eos, extra):
    try:
        rendered, _ = ctu.render_jinja_template(
            conversations=[messages],
            chat_template=source,
            add_generation_prompt=add_generation_prompt,
            bos_token=bos,
            eos_token=eos,
            **extra,
        )
        return {"expected": rendered[0]}
    except jinja2.exceptions.TemplateError as error:
        # raise_exception raises the base TemplateError; everything else is a subclass.
        kind = "raise_exception" if type(error) is jinja2.exceptions.TemplateError else type(error).__name__
        return {"error": {"kind": kind, "message": str(error)}}


def msg(role, content, **more):
    return {"role": role, "content": content, **more}


SYSTEM = msg("system", "You are a terse assistant. Answer in one sentence.")
SINGLE = [msg("user", "Hello! What is the capital of France?")]
MULTI = [
    msg("user", "Hi there."),
    msg("assistant", "Hello! How can I help you today?"),
    msg("user", "Name three primes."),
    msg("assistant", "2, 3 and 5."),
    msg("user", "And the next one?"),
    msg("assistant", "7."),
    msg("user", "Thanks. Sum them all?"),
]
UNICODE = [
    msg("user", "  Héllo wörld 🌍 — 你好!\nLine two\twith a tab\n\n  indented line  "),
    msg("assistant", 'He said "hi" and \'bye\' \\ back\\slash {{ not jinja }} {% nor this %}\n'),
    msg("user", "Ünïcödé: ß → SS, ﬁ ligature, e\u0301 combining, \u00a0nbsp, emoji 👩‍👩‍👧"),
]
ENDS_WITH_ASSISTANT = [msg("user", "Say hi."), msg("assistant", "Hi!")]

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city — «quoted» text",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name, e.g. Zürich"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7.5},
            },
            "required": ["city"],
        },
    },
}
TOOL_CALL = {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Zürich", "days": 2}}}
TOOL_CALL_WITH_ID = {"id": "abc123XYZ", **TOOL_CALL}


def standard_cases(with_system=True):
    cases = [("single", SINGLE), ("multi", MULTI), ("unicode", UNICODE), ("ends_with_assistant", ENDS_WITH_ASSISTANT)]
    if with_system:
        cases += [("system_single", [SYSTEM] + SINGLE), ("system_multi", [SYSTEM] + MULTI)]
    return cases


def chat_cases(templates):
    bos_eos = {
        "smollm2-135m-instruct": ("<|im_start|>", "<|im_end|>"),
        "llama-3.1-8b-instruct": ("<|begin_of_text|>", "<|eot_id|>"),
        "llama-3.2-3b-instruct": ("<|begin_of_text|>", "<|eot_id|>"),
        "qwen2.5-instruct": ("", "<|im_end|>"),
        "qwen3": ("", "<|im_end|>"),
        "mistral-7b-instruct-v0.1": ("<s>", "</s>"),
        "mistral-7b-instruct-v0.3": ("<s>", "</s>"),
    }
    plan = []  # (template, case name, messages, extra, richMessages)
    for name in templates:
        llama = name.startswith("llama")
        for case_name, messages in standard_cases():
            extra = {"date_string": "26 Jul 2024"} if llama else {}
            plan.append((name, case_name, messages, extra))

    plan += [
        ("llama-3.2-3b-instruct", "strftime_now_date", SINGLE, {}),
        ("llama-3.1-8b-instruct", "default_date", SINGLE, {}),
        ("llama-3.1-8b-instruct", "tools_in_user_message", [SYSTEM] + SINGLE,
         {"date_string": "01 Jan 2025", "tools": [WEATHER_TOOL]}),
        ("llama-3.1-8b-instruct", "tools_in_system", SINGLE,
         {"tools": [WEATHER_TOOL], "tools_in_user_message": False}),
        ("llama-3.1-8b-instruct", "builtin_tools", SINGLE,
         {"builtin_tools": ["brave_search", "code_interpreter", "wolfram_alpha"]}),
        ("llama-3.1-8b-instruct", "tool_call_round_trip",
         SINGLE + [{"role": "assistant", "tool_calls": [TOOL_CALL]}, msg("tool", "{\"temp\": 21}"),
                   msg("tool", {"temp": 21, "sky": "clear"})],
         {"tools": [WEATHER_TOOL]}),
        ("llama-3.1-8b-instruct", "error_two_tool_calls",
         SINGLE + [{"role": "assistant", "tool_calls": [TOOL_CALL, TOOL_CALL]}], {}),
        ("llama-3.2-3b-instruct", "error_tools_without_user", [SYSTEM], {"tools": [WEATHER_TOOL]}),
        ("qwen2.5-instruct", "tools", [SYSTEM] + SINGLE, {"tools": [WEATHER_TOOL]}),
        ("qwen2.5-instruct", "tools_default_system", SINGLE, {"tools": [WEATHER_TOOL]}),
        ("qwen2.5-instruct", "tool_call_round_trip",
         SINGLE + [{"role": "assistant", "content": "Let me check.", "tool_calls": [TOOL_CALL, TOOL_CALL]},
                   msg("tool", "21 degrees"), msg("tool", "sunny"), msg("assistant", "It is 21 °C and sunny.")],
         {"tools": [WEATHER_TOOL]}),
        ("qwen3", "enable_thinking_false", MULTI, {"enable_thinking": False}),
        ("qwen3", "enable_thinking_true", MULTI, {"enable_thinking": True}),
        ("qwen3", "think_in_content",
         [msg("user", "2+2?"), msg("assistant", "<think>\nAdd them.\n</think>\n\nFour."),
          msg("user", "3+3?"), msg("assistant", "<think>\nAgain.\n</think>\n\nSix.")], {}),
        ("qwen3", "reasoning_content_field",
         [msg("user", "2+2?"), msg("assistant", "Four.", reasoning_content="Add two and two.")], {}),
        ("qwen3", "tools_multi_step",
         [SYSTEM, msg("user", "Weather in Zürich?"),
          {"role": "assistant", "content": "", "tool_calls": [TOOL_CALL]},
          msg("tool", "21 degrees"),
          {"role": "assistant", "content": "<think>\nGot it.\n</think>\n\nLet me also check tomorrow.",
           "tool_calls": [{"function": {"name": "get_weather", "arguments": "{\"city\": \"Zürich\"}"}}]},
          msg("tool", "<tool_response>x</tool_response>"), msg("tool", "sunny")],
         {"tools": [WEATHER_TOOL]}),
        ("mistral-7b-instruct-v0.1", "error_not_alternating", [msg("user", "a"), msg("user", "b")], {}),
        ("mistral-7b-instruct-v0.1", "error_system_then_assistant", [SYSTEM, msg("assistant", "x")], {}),
        ("mistral-7b-instruct-v0.1", "error_tool_role",
         [msg("user", "a"), msg("assistant", "b"), msg("tool", "c"), msg("assistant", "d")], {}),
        ("mistral-7b-instruct-v0.3", "error_not_alternating", [msg("user", "a"), msg("user", "b")], {}),
        ("mistral-7b-instruct-v0.3", "tools",
         [SYSTEM] + MULTI, {"tools": [WEATHER_TOOL]}),
        ("mistral-7b-instruct-v0.3", "tool_calls",
         SINGLE + [{"role": "assistant", "tool_calls": [TOOL_CALL_WITH_ID]},
                   {"role": "tool", "content": "21 degrees", "tool_call_id": "abc123XYZ"},
                   msg("assistant", "  It is 21 degrees.  ")],
         {"tools": [WEATHER_TOOL]}),
        ("mistral-7b-instruct-v0.3", "error_bad_tool_call_id",
         SINGLE + [{"role": "assistant", "tool_calls": [TOOL_CALL]}], {}),
    ]

    cases = []
    for name, case_name, messages, extra in plan:
        bos, eos = bos_eos.get(name, ("<s>", "</s>"))
        for add_generation_prompt in (False, True):
            case = {
                "name": f"{name}/{case_name}/{'gen' if add_generation_prompt else 'nogen'}",
                "template": name,
                "messages": messages,
                "add_generation_prompt": add_generation_prompt,
                "bos_token": bos,
                "eos_token": eos,
                "extra": extra,
            }
            case.update(render(templates[name], messages, add_generation_prompt, bos, eos, extra))
            cases.append(case)
    return cases


# Small templates exercising one language feature each: (source, context).
LANGUAGE = [
    ("{{ 'a' }}  {{- ' b' }} {{ 'c' -}}   \n  d", {}),
    ("x\n  {% if true %}\n  yes\n  {% endif %}\nz\n", {}),
    ("x\n  {%+ if true %}y{% endif +%}\nz", {}),
    ("a {# comment #}\n  {#- trimmed #}  b\n{# c #}\nc", {}),
    ("  {% raw %}{{ not evaluated }}{% endraw %}\nafter", {}),
    ("trailing newline kept once\n\n", {}),
    ("crlf\r\nline\rend", {}),
    ("{% for x in items %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}"
     "{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}", {"items": ["a", "b", "c"]}),
    ("{% for x in items if x != 'b' %}{{ x }}{{ loop.index }}{{ loop.last }}{% else %}none{% endfor %}",
     {"items": ["a", "b", "c"]}),
    ("{% for x in [] %}{{ x }}{% else %}empty{% endfor %}", {}),
    ("{% for x in items %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}"
     "{% endfor %}", {"items": [1, 2, 3, 4, 5]}),
    ("{% for a, b in pairs %}{{ a }}={{ b }} {% endfor %}{% for k, v in d.items() %}{{ k }}:{{ v }},{% endfor %}",
     {"pairs": [[1, 2], [3, 4]], "d": {"z": 1, "a": 2}}),
    ("{% for x in items %}{{ loop.previtem }}>{{ x }}<{{ loop.nextitem }} {{ loop.cycle('o', 'e') }}|{% endfor %}",
     {"items": [1, 2, 3]}),
    ("{% for row in rows %}{% for c in row %}{{ loop.index }}{% endfor %}/{{ loop.index }} {% endfor %}",
     {"rows": [[1, 2], [3]]}),
    ("{% set c = 0 %}{% for i in range(3) %}{% set c = c + 1 %}{{ c }}{% endfor %}{{ c }}", {}),
    ("{% set ns = namespace(c=0, s='') %}{% for i in range(4) %}{% set ns.c = ns.c + i %}"
     "{% set ns.s = ns.s ~ i %}{% endfor %}{{ ns.c }} {{ ns.s }}", {}),
    ("{% if x %}A{% elif y %}B{% else %}C{% endif %}{% if not x and not y %}D{% endif %}", {"x": 0, "y": ""}),
    ("{% if x is defined %}d{% endif %}{% if y is undefined %}u{% endif %}{% if z is none %}n{% endif %}"
     "{% if s is string %}s{% endif %}{% if 3 is number %}#{% endif %}{% if d is mapping %}m{% endif %}"
     "{% if l is iterable %}i{% endif %}{% if s is iterable %}I{% endif %}{% if 4 is even %}e{% endif %}"
     "{% if 3 is odd %}o{% endif %}{% if 9 is divisibleby 3 %}3{% endif %}{% if b is boolean %}b{% endif %}"
     "{% if 1 is integer %}int{% endif %}{% if 1.5 is float %}f{% endif %}{% if l is sequence %}q{% endif %}"
     "{% if d is not string %}!s{% endif %}{% if b is true %}T{% endif %}{% if 'x' is equalto 'x' %}eq{% endif %}",
     {"x": 1, "z": None, "s": "str", "d": {"a": 1}, "l": [1], "b": True}),
    ("{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} "
     "{{ 2 ** 10 }} {{ 2 ** 3 ** 2 }} {{ -2 ** 2 }} {{ 1.5 + 1 }} {{ 10 / 4 * 2 }} {{ 'ab' * 3 }}", {}),
    ("{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1.0 }} {{ 'a' != 'b' }} {{ 'b' >= 'a' }} {{ [1, 2] == [1, 2] }}"
     " {{ {'a': 1, 'b': 2} == {'b': 2, 'a': 1} }} {{ none == none }} {{ x == none }}", {"x": None}),
    ("{{ 'ell' in 'hello' }} {{ 2 in [1, 2] }} {{ 'k' in d }} {{ 'z' not in d }} {{ not 'a' in 'b' }}",
     {"d": {"k": 1}}),
    ("{{ a or 'fallback' }} {{ b and 'yes' }} {{ c or [] }} {{ 0 or none }} {{ 'x' if a else 'y' }}"
     " {{ 'x' if b }}|{{ 'p' if false else 'q' if true else 'r' }}", {"a": "", "b": "B", "c": 0}),
    ("{{ 'abc' ~ 1 ~ none ~ true ~ 2.5 ~ undefined_name }}", {}),
    ("{{ s[0] }}{{ s[-1] }}{{ s[1:3] }}{{ s[::-1] }}{{ s[::2] }}{{ s[:-2] }}{{ s[10:] }}|{{ l[1:] }} {{ l[::-1] }}"
     " {{ l[-2:] }} {{ l[0] }} {{ l[5] is defined }}", {"s": "héllo😀", "l": [1, 2, 3]}),
    ("{{ d.a }} {{ d['b'] }} {{ d.c.d }} {{ d['c']['d'] }} {{ d.missing is defined }} {{ l.0 }}",
     {"d": {"a": 1, "b": "two", "c": {"d": [3]}}, "l": ["zero"]}),
    ("{{ '  x y  '|trim }}|{{ 'xxhixx'|trim('x') }}|{{ [1, 2, 3]|length }}|{{ 'héllo'|length }}|{{ d|length }}"
     "|{{ d|count }}|{{ undefined_name|length }}", {"d": {"a": 1}}),
    ("{{ x|default('dflt') }} {{ none|default('dflt') }} {{ ''|default('dflt', true) }} {{ y|d('d') }}", {"y": 5}),
    ("{{ [1, 'a', none, true, 2.5]|join(', ') }} {{ l|join }} {{ users|join(',', attribute='name') }}",
     {"l": ["x", "y"], "users": [{"name": "ann"}, {"name": "bob"}]}),
    ("{{ 'Hello World'|upper }} {{ 'Hello World'|lower }} {{ 'hello world'|title }} {{ 'hELLO'|capitalize }}"
     " {{ 'a-b-a'|replace('a', 'x') }} {{ 'a-b-a'|replace('a', 'x', 1) }}", {}),
    ("{{ l|first }} {{ l|last }} {{ 'abc'|first }} {{ l|reverse|list }} {{ 'abc'|reverse }} {{ 'ab'|list }}"
     " {{ d|list }} {{ d|items|list }}", {"l": [3, 1, 2], "d": {"k": "v", "j": "w"}}),
    ("{{ l|sort }} {{ l|sort(reverse=true) }} {{ w|sort }} {{ w|sort(case_sensitive=true) }} {{ l|unique|list }}"
     " {{ l|min }} {{ l|max }} {{ l|sum }} {{ users|sort(attribute='age')|map(attribute='name')|join('/') }}",
     {"l": [3, 1, 2, 3], "w": ["b", "A", "a", "C"],
      "users": [{"name": "ann", "age": 40}, {"name": "bob", "age": 30}]}),
    ("{{ msgs|selectattr('role', 'equalto', 'user')|map(attribute='content')|list }}"
     " {{ msgs|rejectattr('role', 'equalto', 'user')|list|length }} {{ msgs|selectattr('tool')|list|length }}"
     " {{ [1, 2, 3, 4]|select('odd')|list }} {{ [1, 2, 3, 4]|reject('odd')|list }} {{ ['a', 'b']|map('upper')|list }}"
     " {{ [1, none, 0, 'x']|select|list }}",
     {"msgs": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b", "tool": 1},
               {"role": "user", "content": "c"}]}),
    ("{{ x|tojson }}|{{ x|tojson(indent=2) }}|{{ 'é\"\\n\\t<>&\\u0001'|tojson }}|{{ [1.0, 1e-7, 1e16, 0.1]|tojson }}"
     "|{{ {}|tojson(indent=4) }}|{{ x|tojson(separators=(',', ':')) }}|{{ x|tojson(sort_keys=true) }}"
     "|{{ 'é'|tojson(ensure_ascii=true) }}|{{ '😀'|tojson(true) }}|{{ none|tojson }}",
     {"x": {"z": "Zürich 🌍", "a": [1, 2.5, None, True, False, {"n": {}}], "m": [], "q": "\"quoted\""}}),
    ("{{ l }} {{ d }} {{ t }} {{ none }} {{ true }} {{ 1.0 }} {{ 1e20 }} {{ 1e-5 }} {{ 123456789.0 }} {{ \"it's\" }}"
     " {{ [\"it's\", 'say \"hi\"', 'both \\' \"', 'nl\\n', 'é😀'] }}",
     {"l": [1, "a", None, True, 2.5], "d": {"k": "v", "n": [1, {"x": None}]}, "t": "tab\there"}),
    ("{{ x|string }}{{ 5|string ~ 'a' }} {{ '5'|int + 1 }} {{ 'x'|int }} {{ '2.5'|float }} {{ 3.7|int }}"
     " {{ 2.5|round }} {{ 3.5|round }} {{ 2.567|round(2) }} {{ 2.1|round(method='ceil') }} {{ -3|abs }}",
     {"x": [1, "b"]}),
    ("{{ '  a  b \\n c '.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ '  a '.lstrip() }}|{{ '  a '.rstrip() }}"
     "|{{ '\\n\\nb\\n'.lstrip('\\n') }}|{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith('bc') }}"
     "{{ 'abc'.startswith(('x', 'a')) }}|{{ 'a b  c'.split() }}|{{ 'a,b,,c'.split(',') }}|{{ 'a,b,c'.split(',', 1) }}"
     "|{{ 'AbC'.upper() }}{{ 'AbC'.lower() }}|{{ 'aXbX'.replace('X', '-') }}|{{ 'hello world'.title() }}"
     "|{{ 'abcabc'.find('c') }}{{ 'abcabc'.rfind('c') }}{{ 'abc'.find('z') }}|{{ 'abca'.count('a') }}"
     "|{{ '-'.join(['a', 'b']) }}|{{ 'a\\nb\\n'.splitlines() }}|{{ 'a b c'.rsplit(' ', 1) }}", {}),
    ("{{ d.get('a') }} {{ d.get('z') }} {{ d.get('z', 'dflt') }} {{ d.keys()|list }} {{ d.values()|list }}"
     " {{ d.items()|list }} {{ dict(a=1, b='x') }} {{ dict(d, c=3) }}", {"d": {"a": 1, "b": 2}}),
    ("{{ range(3)|list }} {{ range(1, 7, 2)|list }} {{ range(5, 0, -2)|list }}", {}),
    ("{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set t = (1, 'x') %}{{ t }}{{ (1,) }}{{ () }}", {}),
    ("{% set block %}  inner {{ 1 + 1 }}  {% endset %}[{{ block }}]{% set up | upper %}shout{% endset %}{{ up }}",
     {}),
    ("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('ann') }} "
     "{{ greet('bob', '?') }} {{ greet(name='cy', punct='.') }}", {}),
    ("{% filter upper %}hello {{ name }}{% endfilter %}", {"name": "x"}),
    ("{% if true %}\n    {%- set x = 'in if' %}\n{% endif %}{{ x }}", {}),
    ("{%- for m in messages -%}\n  {{- m.role }}: {{ m.content | trim }}\n{% endfor -%}\nEND",
     {"messages": [{"role": "user", "content": " hi "}, {"role": "assistant", "content": "yo\n"}]}),
    ("{{ '{\"a\": 1}' }} {{ \"a\\\\b\" }} {{ 'tab\\tq\\'' }} {{ 'uni\\u00e9\\x41\\N{BULLET}' }} {{ 'a' 'b' }}", {}),
    ("{{ x.y }}", {"x": None}),
    ("{{ items|indent }}|{{ text|indent(2) }}|{{ text|indent(2, true) }}|{{ text|indent('> ', blank=true) }}",
     {"items": "a\nb", "text": "l1\n\nl3\n"}),
    ("{{ 'x'|e }} {{ '<a href=\"x\">&\\''|escape }} {{ 'a'|safe }}", {}),
    ("{%- for m in messages %}{%- if m.content is string %}{{ m.content }}{%- else %}{%- for part in m.content %}"
     "{%- if part.type == 'text' %}[{{ part.text }}]{%- elif part.type == 'image' %}<img>{%- endif %}{%- endfor %}"
     "{%- endif %}|{%- endfor %}",
     {"messages": [{"role": "user", "content": "plain"},
                   {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "what is this?"}]}]}),
    ("{{ (messages|last).role }} {{ messages|map(attribute='role')|join(',') }} {{ messages[0]['content']|trim|length }}"
     " {{ not messages }} {{ messages|length > 1 }}",
     {"messages": [{"role": "system", "content": " sys "}, {"role": "user", "content": "u"}]}),
    ("{% set a = x|default([]) + [1] %}{{ a }} {{ [1, 2,] }} {{ {'k': 1,} }} {{ 10 ** -1 }} {{ 3 * 'ab' }} {{ -0.0 }}"
     " {{ 1e22 }} {{ 0 }} {{ -1 }} {{ range(3)|reverse|list }} {{ '42.23'|int }} {{ 'b' < 'a' }}", {}),
    ("{% set ns = namespace(found=false) %}{% for m in msgs %}{% if m.role == 'system' %}{% set ns.found = true %}"
     "{% endif %}{% endfor %}{{ ns.found }} {{ 'yes' if x is defined and x else 'no' }} {{ not x is defined }}"
     " {{ x is not defined }}", {"msgs": [{"role": "user"}, {"role": "system"}]}),
    ("{%- macro render(m, prefix='') -%}\n  {{- prefix ~ m.role | upper }}: {{ m.content }}\n{%- endmacro -%}\n"
     "{%- for m in msgs -%}\n  {{ render(m, prefix='> ') }}\n{% endfor -%}",
     {"msgs": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}),
    ("{{- '<|im_start|>' -}}\n  {#- comment -#}\n  {{- 'x' }}\n{{ '\\n' }}end", {}),
    ("{% for k in d %}{{ k }}={{ d[k] }};{% endfor %}{% for k, v in d|items %}{{ k }}{{ v }}{% endfor %}"
     "{% for k, v in d|dictsort %}{{ k }}{% endfor %}", {"d": {"b": 2, "a": 1, "C": 3}}),
    ("{% set content = m['content'] if m['content'] is string else m['content'][0]['text'] %}{{ content }}"
     "{{ m.tool_calls is defined }}{{ m.get('tool_calls') is none }}{{ m.get('content')[0].text }}",
     {"m": {"content": [{"text": "first"}]}}),
]
LANGUAGE += [
    # Errors (the Swift side checks that an error is thrown, and its message for raise_exception).
    ("{{ raise_exception('Custom message with \"quotes\" and é') }}", {}),
    ("{{ undefined_name.attr }}", {}),
    ("{{ 'a' + 1 }}", {}),
    ("{{ 1 / 0 }}", {}),
    ("{{ missing + 'x' }}", {}),
    ("{{ l.append(1) }}", {"l": []}),
    ("{% for x in 5 %}{% endfor %}", {}),
]


def language_cases():
    cases = []
    for index, (source, context) in enumerate(LANGUAGE):
        case = {"name": f"language/{index}", "source": source, "context": context}
        try:
            case["expected"] = ctu._compile_jinja_template(source).render(**context)
        except Exception as error:  # noqa: BLE001 - every failure is recorded as an expected error
            kind = "raise_exception" if type(error) is jinja2.exceptions.TemplateError else type(error).__name__
            case["error"] = {"kind": kind, "message": str(error)}
        cases.append(case)
    return cases


def write(name, cases):
    payload = {
        "generator": "Scripts/reference/make_template_fixtures.py",
        "versions": {"jinja2": jinja2.__version__, "transformers": transformers.__version__,
                     "python": sys.version.split()[0]},
        "fixed_now": FIXED_NOW.isoformat(),
        "cases": cases,
    }
    path = FIXTURES / name
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(ROOT)}: {len(cases)} cases, {path.stat().st_size} bytes")


def main():
    templates = load_templates()
    write("chat_cases.json", chat_cases(templates))
    write("language_cases.json", language_cases())


if __name__ == "__main__":
    main()
