"""griffe extension: document callables that are instances, such as ``td.exp``, as functions.

The built-in elementwise functions are ``Elementwise`` objects taken from the table in
functions.py (``exp = FUNCTIONS["exp"]``) and their docstrings are set at import time
(``exp.__doc__ = ...``), which static analysis cannot see. For each module attribute of the
package whose runtime value carries its own ``__doc__``, this replaces the attribute by a function
with the runtime signature and docstring, so the API page renders it like any other function.
"""

import importlib
import inspect

import griffe


class RuntimeDocstrings(griffe.Extension):
    def on_package(self, *, pkg, **kwargs):
        for module in _modules(pkg):
            runtime = importlib.import_module(module.path)
            for name, member in list(module.members.items()):
                if member.is_alias or not member.is_attribute:
                    continue
                value = getattr(runtime, name, None)
                if value is None or not callable(value) or "__doc__" not in vars_of(value):
                    continue
                module.set_member(name, _as_function(name, value, member))


def vars_of(value):
    try:
        return vars(value)
    except TypeError:
        return {}


def _modules(module):
    yield module
    for member in module.modules.values():
        if not member.is_alias and member.name != "__main__":   # importing __main__ would run the CLI
            yield from _modules(member)


def _as_function(name, value, attribute):
    kinds = {
        inspect.Parameter.POSITIONAL_ONLY: griffe.ParameterKind.positional_only,
        inspect.Parameter.POSITIONAL_OR_KEYWORD: griffe.ParameterKind.positional_or_keyword,
        inspect.Parameter.VAR_POSITIONAL: griffe.ParameterKind.var_positional,
        inspect.Parameter.KEYWORD_ONLY: griffe.ParameterKind.keyword_only,
        inspect.Parameter.VAR_KEYWORD: griffe.ParameterKind.var_keyword,
    }
    parameters = griffe.Parameters(*(
        griffe.Parameter(p.name, kind=kinds[p.kind],
                         default=None if p.default is inspect.Parameter.empty else repr(p.default))
        for p in inspect.signature(value).parameters.values()))
    function = griffe.Function(name, lineno=attribute.lineno, endlineno=attribute.endlineno,
                               parameters=parameters)
    function.docstring = griffe.Docstring(inspect.cleandoc(value.__doc__), parent=function)
    return function
