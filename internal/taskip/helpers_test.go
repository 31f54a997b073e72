package taskip

import (
	"io"
	"strings"
)

func memFile(name, content string) File {
	return File{Name: name, ContentType: "text/plain", Open: func() (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(content)), nil
	}}
}
