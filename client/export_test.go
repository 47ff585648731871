package client

// Strict makes the client refuse answers with fields its types do not
// know: the tests' check that the types cover what the API answers.
func Strict(c *Client) { c.strict = true }
