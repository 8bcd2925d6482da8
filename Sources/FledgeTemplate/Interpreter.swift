import Foundation

/// Variables visible at one level of a render. `for` iterations and macro calls get a child scope,
/// so a `set` inside them is invisible outside (and in the next iteration), as in Jinja2;
/// `if` bodies share their parent's scope.
final class Scope {
    var variables: [String: TemplateValue]
    let parent: Scope?

    init(parent: Scope?, variables: [String: TemplateValue] = [:]) {
        self.parent = parent
        self.variables = variables
    }

    func lookup(_ name: String) -> TemplateValue? {
        var scope: Scope? = self
        while let current = scope {
            if let value = current.variables[name] { return value }
            scope = current.parent
        }
        return nil
    }
}

/// Walks the syntax tree and writes the output (jinja2's compiled code, interpreted).
final class Interpreter {
    /// What a statement asks the enclosing loop to do next.
    enum Flow { case normal, breakLoop, continueLoop }

    /// The time `strftime_now` reports.
    let now: Date
    /// Nested `execute` / `evaluate` calls (macro calls included), bounded by `Limits.maxDepth`.
    private var depth = 0
    /// `for` iterations so far, bounded by `Limits.maxIterations`.
    private var iterations = 0

    init(now: Date) {
        self.now = now
    }

    func render(_ statements: [Statement], scope: Scope) throws -> String {
        var output = ""
        _ = try execute(statements, scope, &output)
        return output
    }

    /// Counts one level of recursion; throws past `Limits.maxDepth`. Pair with `leave()`.
    func enter(_ location: TemplateLocation?) throws {
        guard depth < Limits.maxDepth else {
            throw TemplateError.runtime(
                "the template recursion is nested deeper than \(Limits.maxDepth) levels (macro recursion?)", location)
        }
        depth += 1
    }

    func leave() { depth -= 1 }

    private func checkOutput(_ output: String, _ location: TemplateLocation?) throws {
        guard output.utf8.count > Limits.maxLength else { return }
        throw TemplateError.runtime("the output is longer than \(Limits.maxLength) bytes", location)
    }

    func execute(_ statements: [Statement], _ scope: Scope, _ output: inout String) throws -> Flow {
        try enter(nil)
        defer { leave() }
        for statement in statements {
            switch statement {
            case .text(let text):
                output += text
                try checkOutput(output, nil)
            case .output(let expression):
                output += try evaluate(expression, scope).text
                try checkOutput(output, expression.location)
            case .conditional(let branches, let otherwise):
                let body = try branches.first(where: { try evaluate($0.0, scope).isTruthy })?.1 ?? otherwise
                let flow = try execute(body, scope, &output)
                if flow != .normal { return flow }
            case .forLoop(let loop, let location):
                try executeLoop(loop, location, scope, &output)
            case .set(let target, let expression, let location):
                try assign(try evaluate(expression, scope), to: target, in: scope, location)
            case .setBlock(let target, let filters, let body, let location):
                var value = TemplateValue.string(try render(body, scope: scope))
                for filter in filters {
                    value = try applyFilter(filter.name, value, try evaluate(filter.arguments, scope), filter.location)
                }
                try assign(value, to: target, in: scope, location)
            case .macro(let macro):
                scope.variables[macro.name] = .function(makeMacro(macro, definedIn: scope))
            case .filterBlock(let filters, let body):
                var value = TemplateValue.string(try render(body, scope: scope))
                for filter in filters {
                    value = try applyFilter(filter.name, value, try evaluate(filter.arguments, scope), filter.location)
                }
                output += value.text
                try checkOutput(output, nil)
            case .generation(let body):
                let flow = try execute(body, scope, &output)
                if flow != .normal { return flow }
            case .breakLoop:
                return .breakLoop
            case .continueLoop:
                return .continueLoop
            }
        }
        return .normal
    }

    private func executeLoop(
        _ loop: ForLoop, _ location: TemplateLocation, _ scope: Scope, _ output: inout String
    )
        throws
    {
        var items = try evaluate(loop.iterable, scope).iterated(location)
        if let condition = loop.condition {
            items = try items.filter { item in
                let probe = Scope(parent: scope)
                try assign(item, to: loop.target, in: probe, location)
                return try evaluate(condition, probe).isTruthy
            }
        }
        if items.isEmpty {
            _ = try execute(loop.otherwise, scope, &output)
            return
        }
        let depth =
            (scope.lookup("loop").flatMap { loopValue -> Int? in
                if case .object(let object) = loopValue, case .int(let depth)? = object["depth"] { return depth }
                return nil
            } ?? 0) + 1
        for (index, item) in items.enumerated() {
            iterations += 1
            guard iterations <= Limits.maxIterations else {
                throw TemplateError.runtime(
                    "more than \(Limits.maxIterations) loop iterations in one render", location)
            }
            let iteration = Scope(parent: scope)
            try assign(item, to: loop.target, in: iteration, location)
            iteration.variables["loop"] = loopObject(index: index, items: items, depth: depth)
            if try execute(loop.body, iteration, &output) == .breakLoop { break }
        }
    }

    /// Jinja's `loop` variable for iteration `index` of `items`.
    private func loopObject(index: Int, items: [TemplateValue], depth: Int) -> TemplateValue {
        let count = items.count
        var loop = TemplateObject()
        loop["index"] = .int(index + 1)
        loop["index0"] = .int(index)
        loop["revindex"] = .int(count - index)
        loop["revindex0"] = .int(count - index - 1)
        loop["first"] = .bool(index == 0)
        loop["last"] = .bool(index == count - 1)
        loop["length"] = .int(count)
        loop["depth"] = .int(depth)
        loop["depth0"] = .int(depth - 1)
        loop["previtem"] = index > 0 ? items[index - 1] : .undefined("there is no previous item")
        loop["nextitem"] = index + 1 < count ? items[index + 1] : .undefined("there is no next item")
        loop["cycle"] = .function(
            TemplateFunction(name: "loop.cycle") { arguments in
                guard !arguments.positional.isEmpty else {
                    throw TemplateError.runtime("no items for cycling given", nil)
                }
                return arguments.positional[index % arguments.positional.count]
            })
        return .object(loop)
    }

    func assign(
        _ value: TemplateValue, to target: AssignmentTarget, in scope: Scope, _ location: TemplateLocation
    )
        throws
    {
        switch target {
        case .name(let name):
            scope.variables[name] = value
        case .tuple(let names):
            let items = try value.iterated(location)
            guard items.count == names.count else {
                let problem = items.count > names.count ? "too many values to unpack" : "not enough values to unpack"
                throw TemplateError.runtime("\(problem) (expected \(names.count), got \(items.count))", location)
            }
            for (name, item) in zip(names, items) { scope.variables[name] = item }
        case .namespaceAttribute(let name, let attribute):
            guard case .namespace(let namespace)? = scope.lookup(name) else {
                throw TemplateError.runtime("cannot assign attribute on non-namespace object '\(name)'", location)
            }
            guard !attribute.hasPrefix("_") else {
                throw TemplateError.runtime(
                    "Chat templates cannot store underscore-prefixed attributes on a namespace, but got '\(attribute)'",
                    location)
            }
            if value.nests(deeperThan: Limits.maxValueDepth, orReaches: namespace) {
                throw TemplateError.runtime(
                    "'\(name).\(attribute)' cannot hold a value nested deeper than \(Limits.maxValueDepth) levels "
                        + "or the namespace itself", location)
            }
            namespace.attributes[attribute] = value
        }
    }

    private func makeMacro(_ macro: Macro, definedIn scope: Scope) -> TemplateFunction {
        TemplateFunction(name: macro.name) { [unowned self] arguments in
            let local = Scope(parent: scope)
            guard arguments.positional.count <= macro.parameters.count else {
                throw TemplateError.runtime(
                    "macro '\(macro.name)' takes not more than \(macro.parameters.count) arguments", nil)
            }
            for (name, _) in arguments.keyword where !macro.parameters.contains(where: { $0.0 == name }) {
                throw TemplateError.runtime("macro '\(macro.name)' takes no keyword argument '\(name)'", nil)
            }
            for (position, (name, defaultValue)) in macro.parameters.enumerated() {
                if let value = arguments.value(position, name) {
                    local.variables[name] = value
                } else if let defaultValue {
                    local.variables[name] = try self.evaluate(defaultValue, local)
                } else {
                    local.variables[name] = .undefined("parameter '\(name)' was not provided")
                }
            }
            return .string(try self.render(macro.body, scope: local))
        }
    }
}
