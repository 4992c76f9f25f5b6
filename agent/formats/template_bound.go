package formats

import (
	"errors"
	"fmt"
	"text/template"
	"text/template/parse"
)

// maxTemplateWork bounds the nodes one render may execute, counting each
// node once per iteration of every range around it. Go cannot stop a
// template once Execute runs, so a template that could run longer is
// refused before it runs: at `certagent check` and at each render.
const maxTemplateWork = 1_000_000

// rangeFields are the only values a template may range over: the lists
// the agent provides, all as long as the config makes them. Everything
// else (integers, such as `range 1000000000000`, method results, such as
// .NotAfter.UnixNano, variables and dot) could loop without bound.
var rangeFields = map[string]bool{"DNSNames": true, "IPAddresses": true, "Certs": true}

// rangeHelp ends every refused-range message.
const rangeHelp = "a template may range only over .DNSNames, .IPAddresses or .Certs (or $.DNSNames, $.IPAddresses, $.Certs)"

// bound walks t's parse tree, following template calls, and returns the
// work it may do when each range field has the length lens gives it.
// It refuses ranges over anything but rangeFields, template calls that
// recurse, and work above maxTemplateWork.
func bound(t *template.Template, lens func(field string) int) error {
	w := &boundWalker{t: t, lens: lens, active: map[string]bool{}}
	if t.Tree == nil {
		return nil
	}
	w.active[t.Name()] = true
	return w.node(t.Tree, t.Tree.Root, 1)
}

type boundWalker struct {
	t      *template.Template
	lens   func(string) int
	active map[string]bool // templates on the call stack
	work   int
}

var errTooMuchWork = errors.New("too much work")

func (w *boundWalker) node(tr *parse.Tree, n parse.Node, mult int) error {
	if n == nil {
		return nil
	}
	if w.work += mult; w.work > maxTemplateWork {
		return errTooMuchWork
	}
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := w.node(tr, c, mult); err != nil {
				return err
			}
		}
	case *parse.ActionNode:
		return w.node(tr, n.Pipe, mult)
	case *parse.PipeNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Cmds {
			for _, a := range c.Args {
				if err := w.node(tr, a, mult); err != nil {
					return err
				}
			}
		}
	case *parse.ChainNode:
		return w.node(tr, n.Node, mult)
	case *parse.IfNode:
		return w.branch(tr, &n.BranchNode, mult, mult)
	case *parse.WithNode:
		return w.branch(tr, &n.BranchNode, mult, mult)
	case *parse.RangeNode:
		field, ok := rangeField(n.Pipe)
		if !ok {
			loc, _ := tr.ErrorContext(n)
			return fmt.Errorf("%s: range over %s: %s", loc, n.Pipe, rangeHelp)
		}
		return w.branch(tr, &n.BranchNode, mult*max(w.lens(field), 1), mult)
	case *parse.TemplateNode:
		return w.call(tr, n, mult)
	}
	return nil
}

// branch walks an if, with or range: body with bodyMult, else with mult.
func (w *boundWalker) branch(tr *parse.Tree, b *parse.BranchNode, bodyMult, mult int) error {
	if err := w.node(tr, b.Pipe, mult); err != nil {
		return err
	}
	if err := w.node(tr, b.List, bodyMult); err != nil {
		return err
	}
	if b.ElseList != nil {
		return w.node(tr, b.ElseList, mult)
	}
	return nil
}

// call walks a {{template "name"}} call's body; a call back into a
// template on the stack is recursion, which could loop until Go's depth
// limit with exponential work.
func (w *boundWalker) call(tr *parse.Tree, n *parse.TemplateNode, mult int) error {
	if err := w.node(tr, n.Pipe, mult); err != nil {
		return err
	}
	callee := w.t.Lookup(n.Name)
	if callee == nil || callee.Tree == nil {
		return nil // Execute reports the missing template
	}
	if w.active[n.Name] {
		loc, _ := tr.ErrorContext(n)
		return fmt.Errorf("%s: template %q calls itself: templates may not recurse", loc, n.Name)
	}
	w.active[n.Name] = true
	defer delete(w.active, n.Name)
	return w.node(callee.Tree, callee.Tree.Root, mult)
}

// rangeField returns the field a range pipeline names, when it is one of
// rangeFields reached from dot or from $.
func rangeField(p *parse.PipeNode) (string, bool) {
	if p == nil || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
		return "", false
	}
	var ident []string
	switch a := p.Cmds[0].Args[0].(type) {
	case *parse.FieldNode:
		ident = a.Ident
	case *parse.VariableNode:
		if len(a.Ident) < 1 || a.Ident[0] != "$" {
			return "", false
		}
		ident = a.Ident[1:]
	default:
		return "", false
	}
	if len(ident) != 1 || !rangeFields[ident[0]] {
		return "", false
	}
	return ident[0], true
}

// workError words errTooMuchWork for the user.
func workError(err error, what string) error {
	if errors.Is(err, errTooMuchWork) {
		return fmt.Errorf("template does too much work %s (more than %d steps, counting each range's iterations): "+
			"avoid nested ranges over .Certs and long repeated blocks", what, maxTemplateWork)
	}
	return err
}

// dataLens gives the range lengths of d.
func dataLens(d TemplateData) func(string) int {
	return func(f string) int {
		switch f {
		case "DNSNames":
			return len(d.DNSNames)
		case "IPAddresses":
			return len(d.IPAddresses)
		case "Certs":
			return len(d.Certs)
		}
		return 1
	}
}
