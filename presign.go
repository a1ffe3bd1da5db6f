package privates3

// presignState and scopedState are replaced by the real implementation (issue 4).
type presignState struct{}
type scopedState struct{}
