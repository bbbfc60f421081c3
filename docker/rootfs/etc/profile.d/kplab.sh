# Shell niceties for a learner in a kplab lab container.
alias k=kubectl
PS1='\u@\h:\w\$ '
