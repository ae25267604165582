module gopkg.in/check.v1

go 1.15
