package dnssec

import (
	"errors"
	"strconv"
)

func itoa(i int) string { return strconv.Itoa(i) }

func errorsIsBudget(err error) bool { return errors.Is(err, ErrBudgetExhausted) }
