package taskipfake

import (
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

const maxPageSize = 100

type metaJSON struct {
	CurrentPage int `json:"current_page"`
	PerPage     int `json:"per_page"`
	Total       int `json:"total"`
	TotalPages  int `json:"total_pages"`
}

// pageParams reads page and limit; a limit above the maximum is clamped,
// not refused, as paginators usually do.
func pageParams(q url.Values, v validation, defLimit int) (page, limit int) {
	page, limit = 1, defLimit
	if s := q.Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			v.add("page", "The page must be at least 1.")
		}
		page = n
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			v.add("limit", "The limit must be at least 1.")
		}
		limit = n
	}
	return page, min(limit, maxPageSize)
}

// sortParams picks the comparator and direction from sort and order.
func sortParams[T any](q url.Values, v validation, defSort, defOrder string, sorts map[string]func(a, b T) int) (func(a, b T) int, bool) {
	field := strings.ToLower(q.Get("sort"))
	if field == "" {
		field = defSort
	}
	cmp, ok := sorts[field]
	if !ok {
		v.add("sort", "The selected sort is invalid.")
	}
	order := strings.ToLower(q.Get("order"))
	if order == "" {
		order = defOrder
	}
	if order != "asc" && order != "desc" {
		v.add("order", "The selected order is invalid.")
	}
	return cmp, order == "desc"
}

func codeParam(q url.Values, v validation, k string, names []string) *int {
	s := q.Get(k)
	if s == "" {
		return nil
	}
	n, ok := parseCodeString(names, s)
	if !ok {
		v.invalid(k)
		return nil
	}
	return &n
}

func intParam(q url.Values, v validation, k string) *int {
	s := q.Get(k)
	if s == "" {
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		v.add(k, "The "+human(k)+" must be an integer.")
		return nil
	}
	return &n
}

func dateParam(q url.Values, v validation, k string) *time.Time {
	s := q.Get(k)
	if s == "" {
		return nil
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		v.add(k, "The "+human(k)+" does not match the format Y-m-d.")
		return nil
	}
	return &d
}

// paginate cuts one page; total_pages is at least 1, as Laravel's
// last_page is, so "page <= total_pages" loops terminate on empty results.
func paginate[T any](items []T, page, limit int) ([]T, metaJSON) {
	meta := metaJSON{CurrentPage: page, PerPage: limit, Total: len(items),
		TotalPages: max(1, (len(items)+limit-1)/limit)}
	start := (page - 1) * limit
	if start >= len(items) {
		return nil, meta
	}
	return items[start:min(start+limit, len(items))], meta
}

// sortedPage sorts hits with cmp, breaking ties by id in the same direction
// so that pages never overlap or skip however many items share a sort
// value, cuts out the requested page and renders it.
func sortedPage[T, J any](hits []T, cmp func(a, b T) int, id func(T) int, desc bool, page, limit int, render func(T) J) ([]J, metaJSON) {
	sortByIDTie(hits, cmp, id, desc)
	pageHits, meta := paginate(hits, page, limit)
	data := make([]J, 0, len(pageHits))
	for _, h := range pageHits {
		data = append(data, render(h))
	}
	return data, meta
}

// sortByIDTie sorts with cmp, then id in the same direction.
func sortByIDTie[T any](items []T, cmp func(a, b T) int, id func(T) int, desc bool) {
	sort.Slice(items, func(i, j int) bool {
		d := cmp(items[i], items[j])
		if d == 0 {
			d = id(items[i]) - id(items[j])
		}
		if desc {
			return d > 0
		}
		return d < 0
	})
}
