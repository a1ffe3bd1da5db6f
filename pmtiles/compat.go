package pmtiles

import "errors"

// TODO(core): privates3.ErrPreconditionFailed and privates3.ErrRangeNotSatisfiable once the
// core's ReadRange is on main.
var (
	errPreconditionFailed  = errors.New("privates3: precondition failed")
	errRangeNotSatisfiable = errors.New("privates3: range not satisfiable")
)
