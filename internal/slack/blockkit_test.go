package slack

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestBlockID(t *testing.T) {
	assert.Equal(t, "tsync:actions", BlockID("actions"))
	assert.True(t, IsOwnBlockID(BlockID("x")))
	assert.False(t, IsOwnBlockID("Ab3x"))
	assert.Len(t, BlockID(strings.Repeat("n", 400)), MaxBlockID)
}
