package privates3
